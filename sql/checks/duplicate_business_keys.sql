-- Audit: business keys of prediction_accuracy with more than one row, per date of a range. One row
-- per duplicated key (at most @sample_size per date, the worst first), each carrying its date's
-- totals; no row for a clean date. NULL-safe: GROUP BY treats a NULL line_value as a value.
-- Parameters: @start_date DATE, @end_date DATE (inclusive), @sample_size INT64.
WITH duplicated AS (
  SELECT
    {{ business_key }},
    COUNT(*) AS copies,
    MIN(graded_at) AS first_graded_at,
    MAX(graded_at) AS last_graded_at
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY {{ business_key }}
  HAVING COUNT(*) > 1
)
SELECT
  *,
  COUNT(*) OVER (PARTITION BY game_date) AS duplicate_keys,
  SUM(copies - 1) OVER (PARTITION BY game_date) AS extra_rows
FROM duplicated
WHERE TRUE  -- BigQuery allows QUALIFY only beside a WHERE, GROUP BY or HAVING
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY game_date ORDER BY copies DESC, {{ business_key }}
) <= @sample_size
