-- Input: the box score, one row per player per game.
CREATE TABLE IF NOT EXISTS nba_analytics.player_game_summary (
  player_lookup STRING,
  game_id STRING,
  game_date DATE NOT NULL,
  team_abbr STRING,
  opponent_team_abbr STRING,
  points INT64,
  minutes_played FLOAT64,
  is_dnp BOOL
)
PARTITION BY game_date
CLUSTER BY player_lookup
