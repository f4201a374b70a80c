-- Business keys of prediction_accuracy that occur more than once, per date. NULL-safe: GROUP BY
-- treats a NULL line_value as a value (COUNT(DISTINCT CONCAT(...)) would drop it).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT game_date, COUNT(*) AS duplicate_keys, SUM(copies - 1) AS extra_rows
FROM (
  SELECT game_date, player_lookup, game_id, system_id, line_value, COUNT(*) AS copies
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY game_date, player_lookup, game_id, system_id, line_value
  HAVING COUNT(*) > 1
)
GROUP BY game_date
ORDER BY game_date
