-- Figures per date of system_scorecard over a range (metadata): the 30-day window of each system,
-- one row per (date, system); the asset spreads them into plottable names per system.
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
SELECT game_date, system_id, decided_picks, win_rate, win_rate_lower, roi, beats_break_even
FROM nba_predictions.system_scorecard
WHERE game_date BETWEEN @start_date AND @end_date AND window_days = 30
ORDER BY game_date, system_id
