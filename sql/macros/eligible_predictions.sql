-- The source predictions of [@start_date, @end_date] that may be graded, as a subquery, with the
-- graded names line_value and prediction_created_at. Beyond is_eligible_prediction, two rules keep
-- a prediction made after the game from ever being chosen:
-- * a row created after its game's day is set aside: created at or after 06:00 UTC the next day
--   (game_date + 30 hours, past the end of the latest West Coast game's tip-off night);
-- * a row with no created_at is set aside when another row of its business key has one (it cannot
--   be shown to precede the game, and NULL would otherwise sort last and lose its own place).
(
  SELECT * EXCEPT (dated_rows_of_key)
  FROM (
    SELECT *, COUNT(prediction_created_at) OVER (PARTITION BY {{ business_key }}) AS dated_rows_of_key
    FROM (
      SELECT *, current_points_line AS line_value, created_at AS prediction_created_at
      FROM nba_predictions.player_prop_predictions
      WHERE game_date BETWEEN @start_date AND @end_date
        AND {{ is_eligible_prediction }}
    )
  )
  WHERE (prediction_created_at IS NULL AND dated_rows_of_key = 0)
    OR prediction_created_at < TIMESTAMP_ADD(CAST(game_date AS TIMESTAMP), INTERVAL 30 HOUR)
)
