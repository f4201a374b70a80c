#!/usr/bin/env bash
# Installs the local BigQuery emulator (bqemulator) for the BigQuery warehouse tests, in a virtual
# environment of its own, so that its pins (duckdb 1.5.x, sqlglot<30.12) and its pytest plugin
# never reach the project's .venv.
#
#   scripts/install-bqemulator.sh [VENV_DIR]      (default: $BQEMU_VENV, else .venv-bqemu at the repo root)
#
# Idempotent: a second run with everything in place only re-checks it (well under a second).
# Works with nothing but PyPI reachable. bqemulator runs `INSTALL spatial` at start-up and exits
# when it cannot download the extension, so the extension file is taken from PyPI's
# duckdb-extension-spatial wheel (same version as duckdb) and put where DuckDB looks for it:
# $HOME/.duckdb/extensions/v<duckdb version>/<platform>/. Start the emulator with
# BQEMU_ENABLE_FORMAT_EXTENSIONS=false (it would try to download the Avro extension), or use the
# wrapper this script writes: $VENV_DIR/bin/bqemulator-offline start ...
#
# Fails loudly (non-zero exit, a message on stderr) when anything is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${BQEMU_VENV:-$ROOT/.venv-bqemu}}"
PYTHON="${PYTHON:-python3}"

BQEMULATOR_VERSION="1.4.0"
DUCKDB_VERSION="1.5.5"          # bqemulator's DuckDB; the spatial extension must match it exactly
SQLGLOT_VERSION="30.11.0"       # bqemulator 1.4.0 needs sqlglot>=30.9,<30.12
NUMPY_SPEC="numpy>=1.26,<3"     # imported by bqemulator's query path, not declared by it
STAMP="$VENV/.bqemu-installed"
WANT_STAMP="bqemulator==$BQEMULATOR_VERSION duckdb==$DUCKDB_VERSION sqlglot==$SQLGLOT_VERSION spatial=$DUCKDB_VERSION"

die() { echo "install-bqemulator: $*" >&2; exit 1; }
say() { echo "install-bqemulator: $*" >&2; }

# Where DuckDB $DUCKDB_VERSION looks for the spatial extension, e.g.
# ~/.duckdb/extensions/v1.5.5/linux_amd64/spatial.duckdb_extension.
extension_target() {
  "$VENV/bin/python" - <<'EOF'
import os, duckdb
(platform,) = duckdb.execute("PRAGMA platform").fetchone()
print(os.path.join(os.path.expanduser("~"), ".duckdb", "extensions", f"v{duckdb.__version__}", platform,
                   "spatial.duckdb_extension"))
EOF
}

# Everything the emulator needs at start-up, checked without any network access.
check() {
  [ -x "$VENV/bin/bqemulator" ] || return 1
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_STAMP" ] || return 1
  [ -f "$(extension_target)" ] || return 1
  "$VENV/bin/python" - <<'EOF' || return 1
import duckdb, numpy, bqemulator  # noqa: F401
con = duckdb.connect()
con.execute("SET autoinstall_known_extensions = false")
con.execute("LOAD spatial")  # from the local file; no download
EOF
}

if check 2>/dev/null; then
  say "up to date in $VENV"
  exit 0
fi

# Several test sessions (pytest-xdist workers) may call this at once: one installs, the others wait.
if command -v flock >/dev/null; then
  mkdir -p "$VENV"
  exec 9>"$VENV/.install-lock"
  flock 9
  if check 2>/dev/null; then
    say "up to date in $VENV"
    exit 0
  fi
fi

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=/path/to/python3.11+)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "bqemulator $BQEMULATOR_VERSION needs Python >= 3.11; $PYTHON is $("$PYTHON" --version 2>&1)"

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create the virtual environment $VENV (python3-venv missing?)"
fi

say "installing bqemulator $BQEMULATOR_VERSION, duckdb $DUCKDB_VERSION and its spatial extension into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "bqemulator==$BQEMULATOR_VERSION" \
  "duckdb==$DUCKDB_VERSION" \
  "duckdb-extension-spatial==$DUCKDB_VERSION" \
  "sqlglot==$SQLGLOT_VERSION" \
  "$NUMPY_SPEC" \
  || die "pip could not install the emulator's packages (is PyPI reachable?)"

# pytest is never installed here, so bqemulator's pytest11 plugin (which fails every pytest run
# without testcontainers) stays inert; refuse an environment where someone added it.
if "$VENV/bin/python" -c 'import pytest' 2>/dev/null; then
  die "pytest is installed in $VENV: bqemulator's pytest plugin would load there; use a venv without pytest"
fi

SOURCE="$("$VENV/bin/python" - <<EOF
import pathlib, duckdb_extension_spatial as pkg
path = pathlib.Path(pkg.__file__).parent / "extensions" / "v$DUCKDB_VERSION" / "spatial.duckdb_extension"
print(path if path.is_file() else "")
EOF
)"
[ -n "$SOURCE" ] || die "the duckdb-extension-spatial wheel has no extensions/v$DUCKDB_VERSION/spatial.duckdb_extension"
TARGET="$(extension_target)"
mkdir -p "$(dirname "$TARGET")"
if ! cmp -s "$SOURCE" "$TARGET"; then
  cp "$SOURCE" "$TARGET.tmp.$$" && mv -f "$TARGET.tmp.$$" "$TARGET"
  say "spatial extension -> $TARGET"
fi

cat >"$VENV/bin/bqemulator-offline" <<EOF
#!/usr/bin/env bash
# bqemulator without the start-up downloads it cannot do offline (written by scripts/install-bqemulator.sh).
export BQEMU_ENABLE_FORMAT_EXTENSIONS=false
exec "$VENV/bin/bqemulator" "\$@"
EOF
chmod +x "$VENV/bin/bqemulator-offline"

echo "$WANT_STAMP" >"$STAMP"
check || die "installed, but the check failed: $("$VENV/bin/python" -c 'import duckdb; duckdb.connect().execute("LOAD spatial")' 2>&1 | tail -1)"

# A real start-up, once per install: REST /readyz must answer 200 with no network.
PORTS="$("$VENV/bin/python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
)"
read -r REST_PORT GRPC_PORT <<<"$PORTS"
LOG="$(mktemp -t bqemulator-smoke.XXXXXX.log)"
setsid "$VENV/bin/bqemulator-offline" start --rest-host 127.0.0.1 --rest-port "$REST_PORT" \
  --grpc-host 127.0.0.1 --grpc-port "$GRPC_PORT" >"$LOG" 2>&1 </dev/null &
EMU_PID=$!
stop_smoke() { kill -TERM -- "-$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; }
trap stop_smoke EXIT
READY=""
for _ in $(seq 1 300); do
  kill -0 "$EMU_PID" 2>/dev/null || break
  if "$VENV/bin/python" -c "
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$REST_PORT/readyz', timeout=1).status == 200 else 1)
except Exception:
    sys.exit(1)" 2>/dev/null; then READY=1; break; fi
  sleep 0.2
done
stop_smoke
trap - EXIT
if [ -z "$READY" ]; then
  rm -f "$STAMP"
  die "the emulator did not become ready; its log ($LOG):
$(tail -n 30 "$LOG")"
fi
rm -f "$LOG"
say "ready: $VENV/bin/bqemulator-offline (bqemulator $BQEMULATOR_VERSION, duckdb $DUCKDB_VERSION)"
