-- One row per (game_date, system_id), from the graded predictions of the dates of a range.
-- Voided rows and pushes are neither wins nor losses: win rates divide by decided predictions
-- (prediction_correct IS NOT NULL); MAE and bias cover played games only (voids have no error).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT
  game_date,
  system_id,
  COUNT(*) AS predictions_count,
  COUNTIF(recommendation IN ('OVER', 'UNDER')) AS recommendations_count,
  COUNTIF(prediction_correct) AS correct_count,
  COUNTIF(NOT prediction_correct) AS incorrect_count,
  COUNTIF(recommendation NOT IN ('OVER', 'UNDER') OR recommendation IS NULL) AS pass_count,
  COUNTIF(is_push) AS push_count,
  COUNTIF(is_voided) AS voided_count,
  ROUND(SAFE_DIVIDE(COUNTIF(prediction_correct), COUNTIF(prediction_correct IS NOT NULL)), 3) AS win_rate,
  ROUND(AVG(absolute_error), 2) AS mae,
  ROUND(AVG(signed_error), 2) AS avg_bias,
  COUNTIF(recommendation = 'OVER') AS over_count,
  COUNTIF(recommendation = 'OVER' AND prediction_correct) AS over_correct,
  ROUND(SAFE_DIVIDE(
    COUNTIF(recommendation = 'OVER' AND prediction_correct),
    COUNTIF(recommendation = 'OVER' AND prediction_correct IS NOT NULL)), 3) AS over_win_rate,
  COUNTIF(recommendation = 'UNDER') AS under_count,
  COUNTIF(recommendation = 'UNDER' AND prediction_correct) AS under_correct,
  ROUND(SAFE_DIVIDE(
    COUNTIF(recommendation = 'UNDER' AND prediction_correct),
    COUNTIF(recommendation = 'UNDER' AND prediction_correct IS NOT NULL)), 3) AS under_win_rate,
  COUNTIF(within_3_points) AS within_3_count,
  ROUND(SAFE_DIVIDE(COUNTIF(within_3_points), COUNT(absolute_error)), 3) AS within_3_pct,
  COUNTIF(within_5_points) AS within_5_count,
  ROUND(SAFE_DIVIDE(COUNTIF(within_5_points), COUNT(absolute_error)), 3) AS within_5_pct,
  -- Averaged as NUMERIC: a float sum depends on the (parallel) order of its terms, and the
  -- rounding could flip between two runs over the same rows.
  CAST(ROUND(AVG(CAST(confidence_score AS NUMERIC(12, 6))), 3) AS FLOAT64) AS avg_confidence,
  COUNTIF(confidence_score >= 0.70) AS high_confidence_count,
  COUNTIF(confidence_score >= 0.70 AND prediction_correct) AS high_confidence_correct,
  ROUND(SAFE_DIVIDE(
    COUNTIF(confidence_score >= 0.70 AND prediction_correct),
    COUNTIF(confidence_score >= 0.70 AND prediction_correct IS NOT NULL)), 3) AS high_confidence_win_rate,
  CURRENT_TIMESTAMP() AS computed_at
FROM nba_predictions.prediction_accuracy
WHERE game_date BETWEEN @start_date AND @end_date
GROUP BY game_date, system_id
