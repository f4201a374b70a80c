-- prediction_accuracy over a date range with one row per business key: the row the grading itself
-- would keep (sql/macros/preferred_prediction_first.sql), then the earliest graded_at (identical
-- copies of one graded prediction, the usual duplicate, differ only there).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT *
FROM nba_predictions.prediction_accuracy
WHERE game_date BETWEEN @start_date AND @end_date
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY {{ business_key }}
  ORDER BY {{ preferred_prediction_first }}, graded_at ASC
) = 1
