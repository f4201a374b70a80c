-- prediction_accuracy over a date range with one row per business key: the EARLIEST graded_at is
-- kept (the seed's cleanup plan); ties (identical copies) are broken by the other columns.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT *
FROM nba_predictions.prediction_accuracy
WHERE game_date BETWEEN @start_date AND @end_date
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY player_lookup, game_id, system_id, line_value
  ORDER BY graded_at ASC, prediction_created_at ASC, predicted_points ASC, confidence_score ASC
) = 1
