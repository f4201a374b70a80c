-- Audit: per graded date of a range, the share of graded rows that found a box-score row (the
-- others are voided as dnp_unknown). One row per date with graded rows.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT
  game_date,
  COUNT(*) AS graded_rows,
  COUNTIF(actual_points IS NOT NULL) AS rows_with_actuals,
  ROUND(COUNTIF(actual_points IS NOT NULL) / COUNT(*), 4) AS coverage
FROM nba_predictions.prediction_accuracy
WHERE game_date BETWEEN @start_date AND @end_date
GROUP BY game_date
