-- Per-date figures of the graded table over a range (the CLI's summary).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT
  game_date,
  COUNT(*) AS rows_graded,
  COUNT(DISTINCT system_id) AS systems,
  COUNTIF(is_voided) AS voided,
  COUNTIF(is_push) AS pushes,
  COUNTIF(actual_points IS NOT NULL) AS with_actuals,
  ROUND(AVG(absolute_error), 2) AS mae,
  ROUND(SAFE_DIVIDE(COUNTIF(prediction_correct), COUNTIF(prediction_correct IS NOT NULL)), 3) AS win_rate
FROM nba_predictions.prediction_accuracy
WHERE game_date BETWEEN @start_date AND @end_date
GROUP BY game_date
ORDER BY game_date
