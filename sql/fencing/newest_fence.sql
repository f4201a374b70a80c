-- The newest fencing token recorded per date of a range for one table.
-- Parameters: @table_name STRING, @start_date DATE, @end_date DATE (inclusive).
SELECT game_date, lock_type, fencing_token, holder_id
FROM nba_predictions.partition_write_fences
WHERE table_name = @table_name AND game_date BETWEEN @start_date AND @end_date
