-- Figures per graded date of a range, read back inside the write's transaction (metadata).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT
  game_date,
  COUNT(*) AS rows_graded,
  COUNTIF(is_voided) AS voided,
  COUNTIF(is_push) AS pushes,
  COUNTIF(actual_points IS NULL) AS without_actuals,
  COUNTIF(prediction_correct) AS correct,
  COUNTIF(NOT prediction_correct) AS incorrect,
  ROUND(AVG(absolute_error), 3) AS mae,
  ROUND(SAFE_DIVIDE(COUNTIF(prediction_correct), COUNTIF(prediction_correct IS NOT NULL)), 4) AS win_rate,
  COUNT(DISTINCT system_id) AS systems,
  -- What the date was graded from (one version per date): later observations are compared with it
  -- to tell a stat correction from an input that did not change.
  MAX(graded_from_player_prop_predictions) AS graded_from_player_prop_predictions,
  MAX(graded_from_player_game_summary) AS graded_from_player_game_summary
FROM nba_predictions.prediction_accuracy
WHERE game_date BETWEEN @start_date AND @end_date
GROUP BY game_date
