-- Business keys of prediction_accuracy occurring more than once in a date range, the worst first,
-- with the totals over the range. NULL-safe: GROUP BY treats a NULL line_value as a value (the
-- old check's COUNT(DISTINCT CONCAT(...)) dropped such rows and reported 190k phantom duplicates).
-- Parameters: @start_date DATE, @end_date DATE (inclusive), @sample_size INT64.
WITH duplicated AS (
  SELECT
    player_lookup, game_id, system_id, line_value,
    MIN(game_date) AS game_date,
    COUNT(*) AS copies,
    ARRAY_AGG(graded_at ORDER BY graded_at) AS graded_at
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY player_lookup, game_id, system_id, line_value
  HAVING COUNT(*) > 1
)
SELECT
  *,
  COUNT(*) OVER () AS duplicate_keys,
  SUM(copies - 1) OVER () AS extra_rows
FROM duplicated
ORDER BY copies DESC, game_date, player_lookup, game_id, system_id
LIMIT @sample_size
