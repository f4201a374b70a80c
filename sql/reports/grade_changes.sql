-- What re-grading a date range changed: per (game_date, system_id) with a change, the grades whose
-- prediction_correct, is_voided or actual_points differ between the previous rows and the new ones
-- (a key present on one side only counts too), and the win rate before and after. Run inside the
-- write's transaction after its INSERT, following a CTE `previous_rows` that holds the previous
-- grades (sql/reports/previous_grades.sql, copied before the DELETE); the new ones are the
-- table's. Keys group NULL-safe (sql/macros/business_key.sql). Parameters: @start_date, @end_date DATE.
versions AS (
  SELECT {{ business_key }}, 'before' AS version, prediction_correct, is_voided, actual_points
  FROM previous_rows
  UNION ALL
  SELECT {{ business_key }}, 'after' AS version, prediction_correct, is_voided, actual_points
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
),

per_key AS (
  SELECT
    game_date,
    system_id,
    COUNT(*) = 1 OR COUNT(DISTINCT CONCAT(
      COALESCE(CAST(prediction_correct AS STRING), '-'), '|', CAST(is_voided AS STRING), '|',
      COALESCE(CAST(actual_points AS STRING), '-')
    )) > 1 AS changed
  FROM versions
  GROUP BY {{ business_key }}
),

changes AS (
  SELECT game_date, system_id, COUNTIF(changed) AS grades_changed
  FROM per_key
  GROUP BY game_date, system_id
),

win_rates AS (
  SELECT
    game_date,
    system_id,
    ROUND(SAFE_DIVIDE(COUNTIF(version = 'before' AND prediction_correct),
                      COUNTIF(version = 'before' AND prediction_correct IS NOT NULL)), 4) AS win_rate_before,
    ROUND(SAFE_DIVIDE(COUNTIF(version = 'after' AND prediction_correct),
                      COUNTIF(version = 'after' AND prediction_correct IS NOT NULL)), 4) AS win_rate_after
  FROM versions
  GROUP BY game_date, system_id
)

SELECT changes.game_date, changes.system_id, changes.grades_changed, win_rates.win_rate_before, win_rates.win_rate_after
FROM changes
JOIN win_rates USING (game_date, system_id)
WHERE changes.grades_changed > 0
ORDER BY changes.game_date, changes.grades_changed DESC, changes.system_id
