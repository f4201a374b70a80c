-- Audit: (game_date, system_id) pairs of system_daily_performance with more than one row.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT game_date, system_id, COUNT(*) AS copies
FROM nba_predictions.system_daily_performance
WHERE game_date BETWEEN @start_date AND @end_date
GROUP BY game_date, system_id
HAVING COUNT(*) > 1
ORDER BY game_date, system_id
