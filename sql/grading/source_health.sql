-- What the inputs hold for one game date, checked before grading so that bad input fails loudly.
-- Parameters: @game_date DATE.
WITH source AS (
  SELECT *
  FROM nba_predictions.player_prop_predictions
  WHERE game_date = @game_date
),

eligible AS (
  SELECT player_lookup, game_id, system_id, current_points_line
  FROM source
  WHERE player_lookup IS NOT NULL
    AND game_id IS NOT NULL
    AND system_id IS NOT NULL
    AND (current_points_line IS NULL OR current_points_line <> 20.0)
    AND COALESCE(is_active, TRUE)
    AND invalidation_reason IS NULL
),

-- GROUP BY treats NULL as a value, so a NULL line is one key like any other.
eligible_keys AS (
  SELECT player_lookup, game_id, system_id, current_points_line
  FROM eligible
  GROUP BY player_lookup, game_id, system_id, current_points_line
),

actual_versions AS (
  SELECT player_lookup, game_id, points, minutes_played, is_dnp
  FROM nba_analytics.player_game_summary
  WHERE game_date = @game_date
  GROUP BY player_lookup, game_id, points, minutes_played, is_dnp
),

actual_keys AS (
  SELECT player_lookup, game_id, COUNT(*) AS versions
  FROM actual_versions
  GROUP BY player_lookup, game_id
)

SELECT
  (SELECT COUNT(*) FROM source) AS source_predictions,
  (SELECT COUNT(*) FROM source
    WHERE (player_lookup IS NULL OR game_id IS NULL OR system_id IS NULL)
      AND COALESCE(is_active, TRUE) AND invalidation_reason IS NULL) AS null_key_predictions,
  (SELECT COUNT(*) FROM source WHERE current_points_line = 20.0) AS placeholder_line_predictions,
  (SELECT COUNT(*) FROM source
    WHERE NOT COALESCE(is_active, TRUE) OR invalidation_reason IS NOT NULL) AS invalidated_predictions,
  (SELECT COUNT(*) FROM eligible) AS eligible_predictions,
  (SELECT COUNT(*) FROM eligible_keys) AS eligible_keys,
  (SELECT COUNT(*) FROM eligible_keys AS k
    WHERE EXISTS (
      SELECT 1 FROM actual_keys AS a
      WHERE a.player_lookup = k.player_lookup AND a.game_id = k.game_id
    )) AS keys_with_actuals,
  (SELECT COUNT(DISTINCT game_id) FROM eligible) AS games_with_predictions,
  (SELECT COUNT(DISTINCT game_id) FROM eligible AS e
    WHERE EXISTS (SELECT 1 FROM actual_keys AS a WHERE a.game_id = e.game_id)) AS games_with_actuals,
  (SELECT COUNT(*) FROM actual_keys) AS actual_players,
  (SELECT COUNT(*) FROM actual_keys WHERE versions > 1) AS conflicting_actuals
