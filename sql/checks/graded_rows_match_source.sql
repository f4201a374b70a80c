-- Audit: dates of a range whose number of graded rows differs from the number of eligible source
-- business keys (one graded row per key, sql/macros/). One row per such date.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
WITH eligible AS (
  SELECT game_date, COUNT(*) AS eligible_keys
  FROM (
    SELECT {{ business_key }}
    FROM {{ eligible_predictions }}
    GROUP BY {{ business_key }}
  )
  GROUP BY game_date
),

graded AS (
  SELECT game_date, COUNT(*) AS graded_rows
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY game_date
)

SELECT
  COALESCE(e.game_date, g.game_date) AS game_date,
  COALESCE(e.eligible_keys, 0) AS eligible_keys,
  COALESCE(g.graded_rows, 0) AS graded_rows
FROM eligible AS e
FULL OUTER JOIN graded AS g ON g.game_date = e.game_date
WHERE COALESCE(e.eligible_keys, 0) <> COALESCE(g.graded_rows, 0)
