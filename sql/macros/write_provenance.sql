-- The rows of a CTE `new_rows` of prediction_accuracy, stamped with who wrote them: the Dagster run
-- (@run_id; '' outside a run) and the fencing token of the date's lock it is written under (NULL
-- when written without the lock: @fenced FALSE). Inside the write's transaction the fence ledger
-- holds this writer's token for each date (the write has just modified its rows, and fails unless
-- it could), so every row of a date carries the token that published it.
SELECT
  new_rows.*,
  @run_id AS graded_by_run,
  write_fence.fencing_token AS fencing_token
FROM new_rows
LEFT JOIN nba_predictions.partition_write_fences AS write_fence
  ON @fenced
  AND write_fence.table_name = 'nba_predictions.prediction_accuracy'
  AND write_fence.game_date = new_rows.game_date
