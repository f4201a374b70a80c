-- The last date of a range that already has a scorecard (NULL: none).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT MAX(game_date) AS last_scored
FROM nba_predictions.system_scorecard
WHERE game_date BETWEEN @start_date AND @end_date
