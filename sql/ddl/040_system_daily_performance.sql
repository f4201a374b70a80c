-- Output: one row per (game_date, system_id).
CREATE TABLE IF NOT EXISTS nba_predictions.system_daily_performance (
  game_date DATE NOT NULL,
  system_id STRING NOT NULL,
  predictions_count INT64,
  recommendations_count INT64,
  correct_count INT64,
  incorrect_count INT64,
  pass_count INT64,
  push_count INT64,
  voided_count INT64,
  win_rate FLOAT64,
  mae FLOAT64,
  avg_bias FLOAT64,
  over_count INT64,
  over_correct INT64,
  over_win_rate FLOAT64,
  under_count INT64,
  under_correct INT64,
  under_win_rate FLOAT64,
  within_3_count INT64,
  within_3_pct FLOAT64,
  within_5_count INT64,
  within_5_pct FLOAT64,
  avg_confidence FLOAT64,
  high_confidence_count INT64,
  high_confidence_correct INT64,
  high_confidence_win_rate FLOAT64,
  computed_at TIMESTAMP NOT NULL
)
PARTITION BY game_date
CLUSTER BY system_id
