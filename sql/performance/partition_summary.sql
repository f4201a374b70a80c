-- Figures per date of system_daily_performance over a range (metadata).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT
  game_date,
  COUNT(*) AS systems,
  SUM(predictions_count) AS predictions,
  ROUND(SAFE_DIVIDE(SUM(correct_count), SUM(correct_count + incorrect_count)), 4) AS win_rate,
  MIN(mae) AS best_mae
FROM nba_predictions.system_daily_performance
WHERE game_date BETWEEN @start_date AND @end_date
GROUP BY game_date
