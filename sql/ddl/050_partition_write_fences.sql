-- The newest fencing token that claimed each (table, date): a writer holding an older token
-- (its lease ran out and another holder took over) can no longer commit. Each write modifies its
-- own row (last_written_at) inside its transaction, so a claim committed meanwhile conflicts with it.
CREATE TABLE IF NOT EXISTS nba_predictions.partition_write_fences (
  table_name STRING NOT NULL,
  game_date DATE NOT NULL,
  lock_type STRING,
  fencing_token INT64 NOT NULL,
  holder_id STRING,
  claimed_at TIMESTAMP NOT NULL,
  last_written_at TIMESTAMP
)
