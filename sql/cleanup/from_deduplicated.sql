-- The validated deduplicated rows of a date range, swapped into prediction_accuracy.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT *
FROM nba_predictions.prediction_accuracy_deduplicated
WHERE game_date BETWEEN @start_date AND @end_date
