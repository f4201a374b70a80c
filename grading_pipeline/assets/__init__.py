from grading_pipeline.assets.graded_tables import grade_game_dates

__all__ = ["grade_game_dates"]
