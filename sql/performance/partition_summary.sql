-- Figures for one date of system_daily_performance (materialization metadata).
-- Parameters: @game_date DATE.
SELECT
  COUNT(*) AS systems,
  COALESCE(SUM(predictions_count), 0) AS predictions,
  ROUND(SAFE_DIVIDE(SUM(correct_count), SUM(correct_count + incorrect_count)), 4) AS win_rate,
  MIN(mae) AS best_mae
FROM nba_predictions.system_daily_performance
WHERE game_date = @game_date
