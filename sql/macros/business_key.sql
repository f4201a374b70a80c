-- The business key of nba_predictions.prediction_accuracy: one graded row per key, per date.
-- game_date belongs to it: a game_id is not trusted to be unique across dates, so two dates can
-- hold the same (player, game, system, line) legitimately. GROUP BY and PARTITION BY treat a NULL
-- line_value as a value (COUNT(DISTINCT CONCAT(...)) would drop it: the old "190k duplicates").
-- Used by the grading, the checks, the sweep, the cleanup and the reports.
game_date, player_lookup, game_id, system_id, line_value
