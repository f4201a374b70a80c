-- Input: one row per prediction a system made (several may share a business key: re-runs).
CREATE TABLE IF NOT EXISTS nba_predictions.player_prop_predictions (
  player_lookup STRING,
  game_id STRING,
  game_date DATE NOT NULL,
  system_id STRING,
  predicted_points NUMERIC,
  confidence_score FLOAT64,            -- 0-1; some systems wrote 0-100
  recommendation STRING,               -- OVER / UNDER / PASS / HOLD / NO_LINE
  current_points_line NUMERIC,         -- graded as line_value; 20.0 is a "no line" placeholder
  pace_adjustment FLOAT64,
  similar_games_count INT64,
  model_version STRING,
  has_prop_line BOOL,
  line_source STRING,                  -- ACTUAL_PROP / ODDS_API / BETTINGPROS / NO_PROP_LINE
  is_active BOOL,
  invalidation_reason STRING,
  injury_status_at_prediction STRING,  -- OUT / DOUBTFUL / QUESTIONABLE / PROBABLE / AVAILABLE
  created_at TIMESTAMP,
  american_odds INT64                  -- the price of the pick (e.g. -115, +105); NULL: standard -110
)
PARTITION BY game_date
CLUSTER BY system_id, player_lookup
