-- Audit: (game_date, system_id, window_days) of system_scorecard with more than one row.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT game_date, system_id, window_days, COUNT(*) AS copies
FROM nba_predictions.system_scorecard
WHERE game_date BETWEEN @start_date AND @end_date
GROUP BY game_date, system_id, window_days
HAVING COUNT(*) > 1
