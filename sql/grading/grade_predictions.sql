-- Grades the game dates of a range: every eligible prediction against the box score, one row per
-- business key, each with its provenance (the inputs' versions it was graded from, the run and
-- the fencing token it is written under: sql/macros/write_provenance.sql).
-- Parameters: @start_date DATE, @end_date DATE (inclusive; one date when equal); @run_id STRING;
-- @fenced BOOL.
WITH eligible_predictions AS (
  SELECT
    *,
    -- Several source rows may share a business key (re-runs): one is graded, chosen by the rule
    -- of sql/macros/preferred_prediction_first.sql, then by injury status (the last column that
    -- can still differ), so that the choice is total.
    ROW_NUMBER() OVER (
      PARTITION BY {{ business_key }}
      ORDER BY {{ preferred_prediction_first }}, injury_status_at_prediction ASC NULLS LAST
    ) AS source_rank,
    -- The confidence scale belongs to a model version, not to a row: a version that wrote any
    -- value above 1 on a date wrote 0-100 that date (so 1.0 from it is 1%, not 100%). A version
    -- mixing both scales on one date is refused before grading (sql/grading/source_health.sql).
    MAX(confidence_score) OVER (PARTITION BY game_date, system_id, model_version) > 1 AS confidence_in_percent
  FROM {{ eligible_predictions }}
),

predictions AS (
  SELECT
    player_lookup,
    game_id,
    game_date,
    system_id,
    predicted_points,
    CASE WHEN confidence_in_percent THEN confidence_score / 100 ELSE confidence_score END AS confidence_score,
    UPPER(recommendation) AS recommendation,
    line_value,
    model_version,
    american_odds,
    UPPER(injury_status_at_prediction) AS injury_status_at_prediction,
    prediction_created_at
  FROM eligible_predictions
  WHERE source_rank = 1
),

-- Actuals join on (player_lookup, game_id), within the prediction's game_date (a range is graded
-- in one statement; a game id is not trusted to be unique across dates). Exact duplicate rows
-- collapse here; conflicting ones are rejected before grading (sql/grading/source_health.sql).
actuals AS (
  SELECT DISTINCT game_date, player_lookup, game_id, team_abbr, opponent_team_abbr, points, minutes_played, is_dnp
  FROM nba_analytics.player_game_summary
  WHERE game_date BETWEEN @start_date AND @end_date
),

joined AS (
  SELECT
    p.*,
    a.team_abbr,
    a.opponent_team_abbr,
    a.points AS actual_points,
    a.minutes_played,
    -- Did not play: flagged DNP, zero points with no minutes, or absent from the box score.
    (
      a.player_lookup IS NULL
      OR COALESCE(a.is_dnp, FALSE)
      OR a.points IS NULL
      OR (a.points = 0 AND COALESCE(a.minutes_played, 0) = 0)
    ) AS is_voided
  FROM predictions AS p
  LEFT JOIN actuals AS a
    ON a.game_date = p.game_date AND a.player_lookup = p.player_lookup AND a.game_id = p.game_id
),

graded AS (
  SELECT
    *,
    -- Errors describe played games only: a void is not a miss.
    CASE WHEN NOT is_voided THEN ABS(predicted_points - actual_points) END AS absolute_error,
    CASE WHEN NOT is_voided THEN predicted_points - actual_points END AS signed_error,
    CASE WHEN NOT is_voided AND line_value IS NOT NULL THEN actual_points = line_value END AS is_push
  FROM joined
),

-- Each date's inputs as graded, read in the same statement (so, inside the write's transaction):
-- what a later observation is compared with to tell a stat correction.
prediction_versions AS (
  SELECT game_date, {{ fingerprint_version }} AS version
  FROM ({{ prediction_row_hashes }})
  GROUP BY game_date
),

actuals_versions AS (
  SELECT game_date, {{ fingerprint_version }} AS version
  FROM ({{ actuals_row_hashes }})
  GROUP BY game_date
),

new_rows AS (
SELECT
  player_lookup,
  game_id,
  game_date,
  system_id,
  team_abbr,
  opponent_team_abbr,
  predicted_points,
  confidence_score,
  CASE
    WHEN confidence_score IS NOT NULL
    THEN LEAST(10, CAST(FLOOR(confidence_score * 10) AS INT64) + 1)
  END AS confidence_decile,
  recommendation,
  line_value,
  model_version,
  actual_points,
  minutes_played,
  absolute_error,
  signed_error,
  absolute_error <= 3 AS within_3_points,
  absolute_error <= 5 AS within_5_points,
  predicted_points - line_value AS predicted_margin,
  CASE WHEN NOT is_voided THEN actual_points - line_value END AS actual_margin,
  CASE
    WHEN is_voided OR line_value IS NULL OR actual_points IS NULL THEN NULL
    WHEN recommendation NOT IN ('OVER', 'UNDER') OR recommendation IS NULL THEN NULL
    WHEN actual_points = line_value THEN NULL
    ELSE (actual_points > line_value) = (recommendation = 'OVER')
  END AS prediction_correct,
  is_push,
  is_voided,
  CASE
    WHEN NOT is_voided THEN NULL
    WHEN injury_status_at_prediction IN ('OUT', 'DOUBTFUL') THEN 'dnp_injury_confirmed'
    WHEN injury_status_at_prediction IN ('QUESTIONABLE', 'PROBABLE') THEN 'dnp_late_scratch'
    ELSE 'dnp_unknown'
  END AS void_reason,
  prediction_created_at,
  CURRENT_TIMESTAMP() AS graded_at,
  american_odds,
  prediction_versions.version AS graded_from_player_prop_predictions,
  actuals_versions.version AS graded_from_player_game_summary
FROM graded
LEFT JOIN prediction_versions USING (game_date)
LEFT JOIN actuals_versions USING (game_date)
)

{{ write_provenance }}
