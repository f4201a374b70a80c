from grading_pipeline.assets.graded_tables import grade_game_dates
from grading_pipeline.assets.inputs import observed_inputs

__all__ = ["grade_game_dates", "observed_inputs"]
