-- Observation of the box scores input: per game date in [@start_date, @end_date], the row count and
-- an order-independent hash of every column (see prediction_fingerprints.sql). A stat correction
-- (points, minutes, a DNP flag) changes it.
WITH hashed AS (
  SELECT
    game_date,
    FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(
      player_lookup, game_id, team_abbr, opponent_team_abbr, points, minutes_played, is_dnp
    ))) AS row_hash
  FROM nba_analytics.player_game_summary
  WHERE game_date BETWEEN @start_date AND @end_date
)
{{ fingerprints_by_date }}
