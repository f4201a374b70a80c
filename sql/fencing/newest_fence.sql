-- The newest fencing token recorded for one (table, date). Parameters: @table_name, @game_date.
SELECT MAX(fencing_token) AS fencing_token, MAX(holder_id) AS holder_id
FROM nba_predictions.partition_write_fences
WHERE table_name = @table_name AND game_date = @game_date
