-- Observation of the predictions input: per game date in [@start_date, @end_date], the row count
-- and an order-independent hash of every column (the XOR and a sum of the rows' fingerprints),
-- cheap enough to run every few minutes. A change of any value changes it. (On DuckDB the row's
-- fingerprint is its `hash(...)`: see sql_translation.py.)
WITH hashed AS (
  SELECT
    game_date,
    FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(
      player_lookup, game_id, system_id, predicted_points, confidence_score, recommendation,
      current_points_line, pace_adjustment, similar_games_count, model_version, has_prop_line, line_source,
      is_active, invalidation_reason, injury_status_at_prediction, created_at, american_odds
    ))) AS row_hash
  FROM nba_predictions.player_prop_predictions
  WHERE game_date BETWEEN @start_date AND @end_date
)
{{ fingerprints_by_date }}
