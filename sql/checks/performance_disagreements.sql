-- Audit: (game_date, system_id) whose counts in system_daily_performance differ from prediction_accuracy
-- (in either direction: a system missing from one side counts too).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
WITH graded AS (
  SELECT
    game_date, system_id,
    COUNT(*) AS predictions_count,
    COUNTIF(prediction_correct) AS correct_count,
    COUNTIF(NOT prediction_correct) AS incorrect_count,
    COUNTIF(is_voided) AS voided_count
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY game_date, system_id
),

performance AS (
  SELECT game_date, system_id, predictions_count, correct_count, incorrect_count, voided_count
  FROM nba_predictions.system_daily_performance
  WHERE game_date BETWEEN @start_date AND @end_date
)

SELECT
  COALESCE(g.game_date, p.game_date) AS game_date,
  COALESCE(g.system_id, p.system_id) AS system_id,
  g.predictions_count AS graded_predictions,
  p.predictions_count AS performance_predictions,
  g.correct_count AS graded_correct,
  p.correct_count AS performance_correct
FROM graded AS g
FULL OUTER JOIN performance AS p
  ON p.game_date = g.game_date AND p.system_id = g.system_id
WHERE g.system_id IS NULL
  OR p.system_id IS NULL
  OR g.predictions_count <> p.predictions_count
  OR g.correct_count <> p.correct_count
  OR g.incorrect_count <> p.incorrect_count
  OR g.voided_count <> p.voided_count
ORDER BY game_date, system_id
