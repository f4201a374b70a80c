from grading_pipeline.assets.prediction_accuracy import prediction_accuracy
from grading_pipeline.assets.system_daily_performance import system_daily_performance

__all__ = ["prediction_accuracy", "system_daily_performance"]
