-- What the inputs hold per game date of a range, checked before grading so that bad input fails
-- loudly, and how many source rows each rule set aside. One row per date that has predictions or
-- box scores.
-- Parameters: @start_date DATE, @end_date DATE (inclusive), @max_points FLOAT64 (the largest
-- believable points total, predicted or scored).
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
    COALESCE({{ is_eligible_prediction }}, FALSE) AS is_eligible,
    predicted_points < 0 OR predicted_points > @max_points AS predicted_out_of_bounds,
    IS_NAN(confidence_score) AS confidence_is_nan
  FROM nba_predictions.player_prop_predictions
  WHERE game_date BETWEEN @start_date AND @end_date
),

-- The rows the grading may choose from (sql/macros/eligible_predictions.sql).
gradable AS (
  SELECT * FROM {{ eligible_predictions }}
),

gradable_counts AS (
  SELECT game_date, COUNT(*) AS gradable_predictions
  FROM gradable
  GROUP BY game_date
),

-- A model version whose confidences on one date are both 0-100 (above 1) and fractions of 1.
mixed_scales AS (
  SELECT game_date, COUNT(*) AS mixed_confidence_scales
  FROM (
    SELECT game_date, system_id, model_version
    FROM gradable
    GROUP BY game_date, system_id, model_version
    HAVING MAX(confidence_score) > 1 AND COUNTIF(confidence_score > 0 AND confidence_score < 1) > 0
  )
  GROUP BY game_date
),

source_counts AS (
  SELECT
    game_date,
    COUNT(*) AS source_predictions,
    COUNTIF(is_valid AND has_null_key) AS null_key_predictions,
    COUNTIF(is_placeholder) AS placeholder_line_predictions,
    COUNTIF(NOT is_valid) AS invalidated_predictions,
    COUNTIF(is_eligible) AS eligible_predictions,
    COUNTIF(is_eligible AND predicted_out_of_bounds) AS predicted_out_of_bounds,
    COUNTIF(is_eligible AND confidence_is_nan) AS confidence_nan
  FROM flagged
  GROUP BY game_date
),

-- GROUP BY treats NULL as a value, so a NULL line is one key like any other.
eligible_keys AS (
  SELECT game_date, player_lookup, game_id
  FROM gradable
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

actual_bounds AS (
  SELECT game_date, COUNTIF(points < 0 OR points > @max_points OR minutes_played < 0) AS actuals_out_of_bounds
  FROM nba_analytics.player_game_summary
  WHERE game_date BETWEEN @start_date AND @end_date
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
  COALESCE(a.conflicting_actuals, 0) AS conflicting_actuals,
  -- Set aside after eligibility: made after the game, or undated beside a dated row of its key.
  COALESCE(s.eligible_predictions, 0) - COALESCE(gc.gradable_predictions, 0) AS post_game_or_undated_predictions,
  COALESCE(gc.gradable_predictions, 0) AS gradable_predictions,
  COALESCE(s.predicted_out_of_bounds, 0) AS predicted_out_of_bounds,
  COALESCE(s.confidence_nan, 0) AS confidence_nan,
  COALESCE(b.actuals_out_of_bounds, 0) AS actuals_out_of_bounds,
  COALESCE(m.mixed_confidence_scales, 0) AS mixed_confidence_scales
FROM source_counts AS s
FULL OUTER JOIN actual_counts AS a ON a.game_date = s.game_date
LEFT JOIN key_counts AS k ON k.game_date = COALESCE(s.game_date, a.game_date)
LEFT JOIN gradable_counts AS gc ON gc.game_date = COALESCE(s.game_date, a.game_date)
LEFT JOIN actual_bounds AS b ON b.game_date = COALESCE(s.game_date, a.game_date)
LEFT JOIN mixed_scales AS m ON m.game_date = COALESCE(s.game_date, a.game_date)
ORDER BY game_date
