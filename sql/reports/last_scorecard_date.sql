-- The newest date that has a scorecard (NULL when none).
SELECT MAX(game_date) AS game_date FROM nba_predictions.system_scorecard WHERE game_date IS NOT NULL
