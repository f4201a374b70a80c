-- The grades of a range as they stand before a re-grade replaces them: copied inside the write's
-- transaction, before its DELETE, for sql/reports/grade_changes.sql to compare with the new rows.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT {{ business_key }}, prediction_correct, is_voided, actual_points
FROM nba_predictions.prediction_accuracy
WHERE game_date BETWEEN @start_date AND @end_date
