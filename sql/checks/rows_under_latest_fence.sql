-- Audit: the dates of a range whose graded rows were not all written by the date's latest write
-- under the lock: rows of more than one writer (a stale writer's, whose lease was taken over, beside
-- its successor's), or rows of another token than the one the fence ledger says last wrote the date
-- (e.g. an unlocked write after a locked one). A claim that never wrote (its run failed or was
-- rolled back) leaves the previous writer's rows, whole: not an error. Rows from before provenance
-- was recorded (graded_by_run NULL) are not judged. One row per such date.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
WITH writers AS (
  SELECT game_date, fencing_token, graded_by_run, COUNT(*) AS row_count
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date AND graded_by_run IS NOT NULL
  GROUP BY game_date, fencing_token, graded_by_run
),

judged AS (
  SELECT
    writers.*,
    fence.fencing_token AS latest_token,
    fence.holder_id AS latest_holder,
    fence.last_written_at IS NOT NULL AS latest_token_wrote,
    COUNT(*) OVER (PARTITION BY writers.game_date) AS writer_count
  FROM writers
  LEFT JOIN nba_predictions.partition_write_fences AS fence
    ON fence.table_name = 'nba_predictions.prediction_accuracy' AND fence.game_date = writers.game_date
)

SELECT
  game_date,
  ANY_VALUE(latest_token) AS latest_token,
  ANY_VALUE(latest_holder) AS latest_holder,
  SUM(IF(fencing_token IS DISTINCT FROM latest_token, row_count, 0)) AS stale_rows,
  ARRAY_AGG(CONCAT(
    CAST(row_count AS STRING), ' rows under ', COALESCE(CAST(fencing_token AS STRING), 'no lock'),
    ' by run ', COALESCE(NULLIF(graded_by_run, ''), 'outside Dagster')
  )) AS written_under
FROM judged
WHERE writer_count > 1 OR (latest_token_wrote AND fencing_token IS DISTINCT FROM latest_token)
GROUP BY game_date
