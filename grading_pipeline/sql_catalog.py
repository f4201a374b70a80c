"""The project's SQL texts: one source of truth in `sql/`, written in BigQuery's dialect.

Each engine receives the same text, translated by sqlglot (:mod:`grading_pipeline.sql_translation`)
and with dataset names mapped (e.g. a test prefix on BigQuery). Values are always bound as named
query parameters (`@game_date`), never interpolated.

Facts several texts share (the business key, which row of a key wins, which predictions are
graded) live once, as SQL fragments in `sql/macros/NAME.sql`, and are written `{{ NAME }}` where
they are used; they are expanded before a text is parsed.

Translations are cached on disk (like `__pycache__`), keyed by the text, the dialect, sqlglot's
version and the translation code itself: parsing and translating the texts costs ~0.6 s, paid by
every launched run otherwise (and sqlglot's import, ~0.1 s, is then not paid at all).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
import importlib.util
from pathlib import Path

SOURCE_DIALECT = "bigquery"


def sql_root() -> Path:
    """The copy installed inside the package (a wheel), else `sql/` beside the package (a checkout)."""
    installed = Path(__file__).resolve().parent / "sql"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "sql"


_MACRO = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@functools.cache
def read_sql(name: str) -> str:
    """The text of `sql/NAME`, macros expanded."""
    return expand_macros(_read(name))


def _read(name: str) -> str:
    path = sql_root() / name
    if not path.is_file():
        raise FileNotFoundError(f"SQL text {name!r} not found under {sql_root()}")
    return path.read_text()


@functools.cache
def macro(name: str) -> str:
    """The fragment of `sql/macros/NAME.sql`, without its comments, on one line."""
    lines = (line.split("--", 1)[0].strip() for line in _read(f"macros/{name}.sql").splitlines())
    return " ".join(line for line in lines if line)


def expand_macros(text: str) -> str:
    """Every `{{ NAME }}`, macros inside macros too (a predicate `is_*` in parentheses)."""
    for _ in range(10):
        expanded = _MACRO.sub(lambda m: f"({macro(m.group(1))})" if m.group(1).startswith("is_") else macro(m.group(1)), text)
        if expanded == text:
            return expanded
        text = expanded
    raise ValueError("sql/macros/ expand into each other without end")


def business_key() -> tuple[str, ...]:
    """The columns of prediction_accuracy's business key, in order (sql/macros/business_key.sql)."""
    return tuple(c.strip() for c in macro("business_key").split(","))


@dataclass(frozen=True)
class SqlDialect:
    """How one engine spells the project's SQL: its sqlglot dialect and its dataset names."""

    name: str
    dataset_names: tuple[tuple[str, str], ...] = ()  # (logical dataset, physical dataset)
    catalog: str | None = None  # BigQuery project, when tables must be fully qualified

    strip_comments: bool = False  # bqemulator binds `@name` even inside a comment

    def dataset(self, logical: str) -> str:
        return dict(self.dataset_names).get(logical, logical)

    @functools.cache
    def render(self, name: str) -> str:
        """The named text, translated for this engine; multi-statement texts stay `;`-separated."""
        return self.render_text(_read(name))

    def render_text(self, text: str) -> str:
        """A BigQuery-dialect text, macros expanded, translated for this engine."""
        return _cached("render", f"{self!r}\0{expand_macros(text)}", lambda expanded: _translation().translate(self, expanded))

    def table(self, qualified: str) -> str:
        """`dataset.table` (logical) -> this engine's spelling of it."""
        return _translation().render_table(self, qualified)


def _translation():
    from grading_pipeline import sql_translation

    return sql_translation


def cache_dir() -> Path:
    configured = os.environ.get("GRADING_SQL_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grading-pipeline" / "sql"


@functools.cache
def _cache_salt() -> str:
    """What a translation depends on besides its input: sqlglot's version and our translation code."""
    code = (Path(__file__).with_name("sql_translation.py")).read_bytes()
    spec = importlib.util.find_spec("sqlglot")  # found, not imported
    version = Path(spec.origin).with_name("_version.py").read_bytes() if spec and spec.origin else b""
    return hashlib.sha256(code + b"\0" + version).hexdigest()


_memory: dict[str, str] = {}


def _cached(kind: str, key_text: str, compute: Callable[[str], str]) -> str:
    """`compute(payload)` for the payload after the key's last NUL, remembered in memory and on disk.
    A cache that cannot be written only costs the computation again."""
    key = hashlib.sha256(f"{kind}\0{_cache_salt()}\0{key_text}".encode()).hexdigest()
    if key in _memory:
        return _memory[key]
    path = cache_dir() / f"{key}.{kind}"
    try:
        value = path.read_text()
    except OSError:
        value = compute(key_text.rsplit("\0", 1)[-1])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
                out.write(value)
            os.replace(out.name, path)  # atomic: a concurrent reader sees all of it or nothing
        except OSError:
            pass
    _memory[key] = value
    return value


def output_columns(name: str) -> list[str]:
    """The column names a SELECT text produces, in order (used to build INSERT column lists)."""
    return json.loads(_cached("columns", f"output_columns\0{read_sql(name)}",
                              lambda text: json.dumps(_translation().output_columns(text))))


def ddl_names() -> list[str]:
    return sorted(f"ddl/{p.name}" for p in (sql_root() / "ddl").glob("*.sql"))


@dataclass(frozen=True)
class DdlColumn:
    name: str
    bigquery_type: str  # as the DDL spells it, e.g. NUMERIC, TIMESTAMP
    required: bool  # NOT NULL

    def type_in(self, dialect: str) -> str:
        return _translation().type_in(self.bigquery_type, dialect)


@functools.cache
def ddl_columns(name: str) -> tuple[str, tuple[DdlColumn, ...]]:
    """(logical `dataset.table`, its columns in order) of a CREATE TABLE text of `sql/ddl/`: the one
    source of every table's schema (created from it, and migrated to it: see each engine)."""
    table, columns = json.loads(_cached("ddl", f"ddl_columns\0{read_sql(name)}",
                                        lambda text: json.dumps(_translation().ddl_columns(text))))
    return table, tuple(DdlColumn(*c) for c in columns)


_TYPE_FAMILIES = (  # (family, words an engine's type name may contain), first match wins
    ("timestamp", ("TIMESTAMP",)), ("date", ("DATE",)), ("bool", ("BOOL",)),
    ("string", ("CHAR", "STRING", "TEXT")), ("number", ("INT", "NUMERIC", "DECIMAL", "DOUBLE", "FLOAT", "REAL")),
)


def type_family(type_name: str) -> str:
    """What a column holds, whatever the engine calls it: numbers of any kind convert to one another
    in the grading; a text, a date or a timestamp does not."""
    upper = type_name.upper()
    return next((family for family, words in _TYPE_FAMILIES if any(w in upper for w in words)), upper)
