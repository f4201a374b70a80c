-- Each row of the box scores input in [@start_date, @end_date] with its fingerprint (game_date,
-- row_hash). A stat correction (points, minutes, a DNP flag) changes it.
SELECT
  game_date,
  FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(
    player_lookup, game_id, team_abbr, opponent_team_abbr, points, minutes_played, is_dnp
  ))) AS row_hash
FROM nba_analytics.player_game_summary
WHERE game_date BETWEEN @start_date AND @end_date
