-- The validated deduplicated rows of a date range, swapped into prediction_accuracy: graded from
-- the same inputs as before, but written again by the cleanup's run under its own fencing tokens.
-- Parameters: @start_date DATE, @end_date DATE (inclusive); @run_id STRING; @fenced BOOL.
WITH new_rows AS (
  SELECT * EXCEPT (graded_by_run, fencing_token)
  FROM nba_predictions.prediction_accuracy_deduplicated
  WHERE game_date BETWEEN @start_date AND @end_date
)

{{ write_provenance }}
