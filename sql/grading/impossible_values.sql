-- Input rows of a date range whose values cannot be graded, up to 5 per date and problem, named
-- in the error: points out of bounds, predicted or scored (below 0 or above @max_points), minutes
-- below 0, a NaN confidence.
-- Parameters: @start_date DATE, @end_date DATE (inclusive), @max_points FLOAT64.
SELECT *
FROM (
  SELECT game_date, 'predicted_points' AS problem, player_lookup, game_id, system_id,
    CAST(predicted_points AS STRING) AS value
  FROM nba_predictions.player_prop_predictions
  WHERE game_date BETWEEN @start_date AND @end_date AND {{ is_eligible_prediction }}
    AND (predicted_points < 0 OR predicted_points > @max_points)
  UNION ALL
  SELECT game_date, 'confidence_score', player_lookup, game_id, system_id, CAST(confidence_score AS STRING)
  FROM nba_predictions.player_prop_predictions
  WHERE game_date BETWEEN @start_date AND @end_date AND {{ is_eligible_prediction }} AND IS_NAN(confidence_score)
  UNION ALL
  SELECT game_date, 'points or minutes_played', player_lookup, game_id, CAST(NULL AS STRING),
    CONCAT(CAST(points AS STRING), ' points, ', CAST(minutes_played AS STRING), ' minutes')
  FROM nba_analytics.player_game_summary
  WHERE game_date BETWEEN @start_date AND @end_date
    AND (points < 0 OR points > @max_points OR minutes_played < 0)
)
WHERE TRUE  -- BigQuery allows QUALIFY only beside a WHERE, GROUP BY or HAVING
QUALIFY ROW_NUMBER() OVER (PARTITION BY game_date, problem ORDER BY player_lookup, game_id, system_id) <= 5
