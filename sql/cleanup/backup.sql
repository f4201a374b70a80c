-- Every row of prediction_accuracy, for the backup copy taken before a cleanup.
SELECT * FROM nba_predictions.prediction_accuracy WHERE game_date IS NOT NULL
