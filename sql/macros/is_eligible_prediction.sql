-- Whether a row of nba_predictions.player_prop_predictions is graded at all: it has a complete key,
-- a real line (20.0 was the old platform's "no line" placeholder) and was not invalidated.
player_lookup IS NOT NULL
AND game_id IS NOT NULL
AND system_id IS NOT NULL
AND (current_points_line IS NULL OR current_points_line <> 20.0)
AND COALESCE(is_active, TRUE)
AND invalidation_reason IS NULL
