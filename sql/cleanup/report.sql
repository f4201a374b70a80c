-- The cleanup's report: per date, rows, unique business keys (sql/macros/business_key.sql; NULL-safe),
-- duplicate keys and extra rows. Dates without any row are absent.
-- Parameters: none (the whole table; every date is read, hence the explicit always-true filter
-- that satisfies BigQuery's require_partition_filter).
WITH keys AS (
  SELECT {{ business_key }}, COUNT(*) AS copies
  FROM nba_predictions.prediction_accuracy
  WHERE game_date IS NOT NULL
  GROUP BY {{ business_key }}
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
