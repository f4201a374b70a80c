-- Output: one row per graded prediction.
-- Business key: sql/macros/business_key.sql (game_date, player_lookup, game_id, system_id, line_value; NULL is a value).
CREATE TABLE IF NOT EXISTS nba_predictions.prediction_accuracy (
  player_lookup STRING NOT NULL,
  game_id STRING NOT NULL,
  game_date DATE NOT NULL,
  system_id STRING NOT NULL,
  team_abbr STRING,
  opponent_team_abbr STRING,
  predicted_points NUMERIC,
  confidence_score FLOAT64,
  confidence_decile INT64,
  recommendation STRING,
  line_value NUMERIC,
  model_version STRING,
  actual_points INT64,
  minutes_played FLOAT64,
  absolute_error NUMERIC,
  signed_error NUMERIC,
  within_3_points BOOL,
  within_5_points BOOL,
  predicted_margin NUMERIC,
  actual_margin NUMERIC,
  prediction_correct BOOL,
  is_push BOOL,
  is_voided BOOL NOT NULL,
  void_reason STRING,
  prediction_created_at TIMESTAMP,
  graded_at TIMESTAMP NOT NULL,
  american_odds INT64,
  -- Provenance (added later: NULL on rows written before it). The inputs' versions the row was
  -- graded from (sql/macros/fingerprint_version.sql), the run that wrote it, and the fencing token
  -- of the date's lock it was written under (NULL: written without the lock).
  graded_from_player_prop_predictions STRING,
  graded_from_player_game_summary STRING,
  graded_by_run STRING,
  fencing_token INT64
)
PARTITION BY game_date
CLUSTER BY system_id, player_lookup
OPTIONS (require_partition_filter = TRUE)
