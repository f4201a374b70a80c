-- Observation of the box scores input: per game date in [@start_date, @end_date] that has rows, its
-- version (sql/macros/fingerprint_version.sql).
SELECT game_date, {{ fingerprint_version }} AS version
FROM ({{ actuals_row_hashes }})
GROUP BY game_date
ORDER BY game_date
