-- The cleanup's report: per date, rows, unique business keys (NULL-safe: GROUP BY treats a NULL
-- line_value as a value), duplicate keys and extra rows. Dates without any row are absent.
-- Parameters: none (the whole table; every date is read, hence the explicit always-true filter
-- that satisfies BigQuery's require_partition_filter).
WITH keys AS (
  SELECT game_date, player_lookup, game_id, system_id, line_value, COUNT(*) AS copies
  FROM nba_predictions.prediction_accuracy
  WHERE game_date IS NOT NULL
  GROUP BY game_date, player_lookup, game_id, system_id, line_value
)
SELECT
  game_date,
  SUM(copies) AS row_count,
  COUNT(*) AS unique_keys,
  COUNTIF(copies > 1) AS duplicate_keys,
  SUM(copies - 1) AS extra_rows
FROM keys
GROUP BY game_date
ORDER BY game_date
