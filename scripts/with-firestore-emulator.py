"""Run a command with a Firestore emulator on a free loopback port (FIRESTORE_EMULATOR_HOST and
GOOGLE_CLOUD_PROJECT set for it), then stop the emulator: `make bench` measures the Firestore lock
this way. Without gcloud the command runs alone, and says what it could not measure.

    python scripts/with-firestore-emulator.py COMMAND [ARG ...]
"""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grading_pipeline_tests.support.firestore_emulator import start_firestore_emulator  # noqa: E402


def main() -> int:
    env = dict(os.environ)
    emulator = None
    try:
        emulator = start_firestore_emulator()
        env.update(emulator.env())
    except Exception as error:  # reported, not hidden: the command runs without it
        print(f"(no Firestore emulator: {error})", file=sys.stderr)
    try:
        return subprocess.call(sys.argv[1:], env=env)
    finally:
        if emulator is not None:
            emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
