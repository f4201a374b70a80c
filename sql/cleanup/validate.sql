-- Checks a deduplicated copy against the original over its date range, before it is swapped in:
-- its rows must equal the original's unique keys, no key may repeat, and no key may be lost
-- (EXCEPT DISTINCT compares keys with NULL equal to NULL).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
WITH original_keys AS (
  SELECT DISTINCT {{ business_key }}
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
),

copy_keys AS (
  SELECT {{ business_key }}, COUNT(*) AS copies
  FROM nba_predictions.prediction_accuracy_deduplicated
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY {{ business_key }}
),

lost AS (
  SELECT {{ business_key }} FROM original_keys
  EXCEPT DISTINCT
  SELECT {{ business_key }} FROM copy_keys
)

SELECT
  (SELECT COUNT(*) FROM original_keys) AS original_unique_keys,
  (SELECT COALESCE(SUM(copies), 0) FROM copy_keys) AS copy_rows,
  (SELECT COUNTIF(copies > 1) FROM copy_keys) AS copy_duplicate_keys,
  (SELECT COUNT(*) FROM lost) AS lost_keys
