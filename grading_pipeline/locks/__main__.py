"""``python -m grading_pipeline.locks [--backend ...] list | force-release LOCK_TYPE GAME_DATE``."""

import sys

from grading_pipeline.locks.admin import main

sys.exit(main())
