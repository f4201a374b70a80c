-- Observation of the predictions input: per game date in [@start_date, @end_date] that has rows,
-- its version (sql/macros/fingerprint_version.sql), cheap enough to run every few minutes.
SELECT game_date, {{ fingerprint_version }} AS version
FROM ({{ prediction_row_hashes }})
GROUP BY game_date
ORDER BY game_date
