-- What the inputs hold per game date of a range, checked before grading so that bad input fails
-- loudly. One row per date that has predictions or box scores.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
WITH flagged AS (
  SELECT
    game_date,
    player_lookup,
    game_id,
    system_id,
    current_points_line AS line_value,
    COALESCE(is_active, TRUE) AND invalidation_reason IS NULL AS is_valid,
    player_lookup IS NULL OR game_id IS NULL OR system_id IS NULL AS has_null_key,
    current_points_line = 20.0 AS is_placeholder,
    COALESCE({{ is_eligible_prediction }}, FALSE) AS is_eligible
  FROM nba_predictions.player_prop_predictions
  WHERE game_date BETWEEN @start_date AND @end_date
),

source_counts AS (
  SELECT
    game_date,
    COUNT(*) AS source_predictions,
    COUNTIF(is_valid AND has_null_key) AS null_key_predictions,
    COUNTIF(is_placeholder) AS placeholder_line_predictions,
    COUNTIF(NOT is_valid) AS invalidated_predictions,
    COUNTIF(is_eligible) AS eligible_predictions
  FROM flagged
  GROUP BY game_date
),

-- GROUP BY treats NULL as a value, so a NULL line is one key like any other.
eligible_keys AS (
  SELECT game_date, player_lookup, game_id
  FROM flagged
  WHERE is_eligible
  GROUP BY {{ business_key }}
),

-- A (player_lookup, game_id) with two different rows is a conflict, whatever column differs: the
-- grading joins on the pair, so two versions would grade the prediction twice.
actual_versions AS (
  SELECT game_date, player_lookup, game_id
  FROM nba_analytics.player_game_summary
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY game_date, player_lookup, game_id, team_abbr, opponent_team_abbr, points, minutes_played, is_dnp
),

actual_keys AS (
  SELECT game_date, player_lookup, game_id, COUNT(*) AS versions
  FROM actual_versions
  GROUP BY game_date, player_lookup, game_id
),

actual_counts AS (
  SELECT game_date, COUNT(*) AS actual_players, COUNTIF(versions > 1) AS conflicting_actuals
  FROM actual_keys
  GROUP BY game_date
),

actual_games AS (
  SELECT DISTINCT game_date, game_id FROM actual_keys
),

key_counts AS (
  SELECT
    k.game_date,
    COUNT(*) AS eligible_keys,
    COUNTIF(a.player_lookup IS NOT NULL) AS keys_with_actuals,
    COUNT(DISTINCT k.game_id) AS games_with_predictions,
    COUNT(DISTINCT g.game_id) AS games_with_actuals
  FROM eligible_keys AS k
  LEFT JOIN actual_keys AS a
    ON a.game_date = k.game_date AND a.player_lookup = k.player_lookup AND a.game_id = k.game_id
  LEFT JOIN actual_games AS g
    ON g.game_date = k.game_date AND g.game_id = k.game_id
  GROUP BY k.game_date
)

SELECT
  COALESCE(s.game_date, a.game_date) AS game_date,
  COALESCE(s.source_predictions, 0) AS source_predictions,
  COALESCE(s.null_key_predictions, 0) AS null_key_predictions,
  COALESCE(s.placeholder_line_predictions, 0) AS placeholder_line_predictions,
  COALESCE(s.invalidated_predictions, 0) AS invalidated_predictions,
  COALESCE(s.eligible_predictions, 0) AS eligible_predictions,
  COALESCE(k.eligible_keys, 0) AS eligible_keys,
  COALESCE(k.keys_with_actuals, 0) AS keys_with_actuals,
  COALESCE(k.games_with_predictions, 0) AS games_with_predictions,
  COALESCE(k.games_with_actuals, 0) AS games_with_actuals,
  COALESCE(a.actual_players, 0) AS actual_players,
  COALESCE(a.conflicting_actuals, 0) AS conflicting_actuals
FROM source_counts AS s
FULL OUTER JOIN actual_counts AS a ON a.game_date = s.game_date
LEFT JOIN key_counts AS k ON k.game_date = COALESCE(s.game_date, a.game_date)
ORDER BY game_date
