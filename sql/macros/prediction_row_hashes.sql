-- Each row of the predictions input in [@start_date, @end_date] with its fingerprint (game_date,
-- row_hash): every column the grading or a reader may use, so a change of any value changes it.
-- (On DuckDB the row's fingerprint is its `hash(...)`: see sql_translation.py.)
SELECT
  game_date,
  FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(
    player_lookup, game_id, system_id, predicted_points, confidence_score, recommendation,
    current_points_line, pace_adjustment, similar_games_count, model_version, has_prop_line, line_source,
    is_active, invalidation_reason, injury_status_at_prediction, created_at, american_odds
  ))) AS row_hash
FROM nba_predictions.player_prop_predictions
WHERE game_date BETWEEN @start_date AND @end_date
