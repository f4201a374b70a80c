-- The scorecard of one date and window, ranked: the surest winners first (by the lower bound of
-- the 95% interval of the win rate), systems without a decided pick last.
-- Parameters: @game_date DATE, @window_days INT64.
SELECT *
FROM nba_predictions.system_scorecard
WHERE game_date = @game_date AND window_days = @window_days
ORDER BY win_rate_lower DESC NULLS LAST, win_rate DESC NULLS LAST, system_id
