-- Audit: rows of prediction_accuracy whose values break the grading's own rules, counted per rule,
-- for each date of a range that has any. One row per such date.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT *
FROM (
  SELECT
    game_date,
    COUNTIF(absolute_error < 0) AS negative_absolute_error,
    COUNTIF(confidence_score < 0 OR confidence_score > 1) AS confidence_out_of_range,
    COUNTIF(confidence_decile < 1 OR confidence_decile > 10) AS decile_out_of_range,
    COUNTIF(recommendation NOT IN ('OVER', 'UNDER', 'PASS', 'HOLD', 'NO_LINE')) AS unknown_recommendation,
    COUNTIF(is_voided AND void_reason IS NULL) AS voided_without_reason,
    COUNTIF(NOT is_voided AND void_reason IS NOT NULL) AS reason_without_void,
    COUNTIF(line_value = 20.0) AS placeholder_line_graded,
    COUNTIF(prediction_correct IS NOT NULL AND (is_voided OR is_push)) AS void_or_push_counted
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN @start_date AND @end_date
  GROUP BY game_date
)
WHERE negative_absolute_error + confidence_out_of_range + decile_out_of_range + unknown_recommendation
  + voided_without_reason + reason_without_void + placeholder_line_graded + void_or_push_counted > 0
