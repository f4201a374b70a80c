-- Record a holder's token as the newest for one (table, date); run after newest_fence.sql checked
-- that no newer token exists, in the same transaction.
-- Parameters: @table_name, @game_date, @lock_type, @fencing_token, @holder_id.
MERGE INTO nba_predictions.partition_write_fences AS f
USING (SELECT @table_name AS table_name, @game_date AS game_date) AS k
ON f.table_name = k.table_name AND f.game_date = k.game_date
WHEN MATCHED THEN UPDATE SET
  lock_type = @lock_type,
  fencing_token = @fencing_token,
  holder_id = @holder_id,
  claimed_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED THEN INSERT (table_name, game_date, lock_type, fencing_token, holder_id, claimed_at)
  VALUES (@table_name, @game_date, @lock_type, @fencing_token, @holder_id, CURRENT_TIMESTAMP())
