-- One row per (game_date, system_id, window_days) for the dates of a range: each system's record over
-- the trailing window of 1, 7 or 30 days ending on the date (a window reaching before the first
-- graded date covers the dates there are). From prediction_accuracy, so it agrees with
-- system_daily_performance: voids and pushes are neither wins nor losses (not decided picks).
--
-- * win rate with a Wilson 95% interval (z = 1.959964), and whether its lower bound clears the
--   break-even of standard -110 pricing (110 / 210 = 0.5238);
-- * units won and ROI per decided pick staked at 1 unit: at standard -110 (a win pays 100/110),
--   and at the pick's own price where the input carries one (american_odds; NULL: -110);
-- * MAE of played games; the Brier score of confidence (read as the probability that the pick
--   wins) against the outcome; per confidence decile, decided picks and win rate (calibration).
-- Parameters: @start_date DATE, @end_date DATE (inclusive).
WITH days AS (
  SELECT day FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS day
),

windows AS (
  SELECT window_days FROM UNNEST([1, 7, 30]) AS window_days
),

picks AS (
  SELECT
    game_date,
    system_id,
    prediction_correct IS NOT NULL AS decided,
    COALESCE(prediction_correct, FALSE) AS win,
    absolute_error,
    confidence_score,
    confidence_decile,
    CASE
      WHEN prediction_correct IS NULL THEN NULL
      WHEN NOT prediction_correct THEN -1.0
      ELSE 100 / 110
    END AS units_standard,
    CASE
      WHEN prediction_correct IS NULL THEN NULL
      WHEN NOT prediction_correct THEN -1.0
      WHEN american_odds > 0 THEN american_odds / 100
      WHEN american_odds < 0 THEN 100 / -american_odds
      ELSE 100 / 110
    END AS units_at_price
  FROM nba_predictions.prediction_accuracy
  WHERE game_date BETWEEN DATE_SUB(@start_date, INTERVAL 29 DAY) AND @end_date
),

-- Per date and system first, so that each window adds up at most 30 rows per system.
daily AS (
  SELECT
    game_date,
    system_id,
    COUNTIF(decided) AS decided_picks,
    COUNTIF(win) AS wins,
    SUM(units_standard) AS units_standard,
    SUM(units_at_price) AS units_at_price,
    SUM(absolute_error) AS error_sum,
    COUNT(absolute_error) AS played,
    SUM(IF(decided AND confidence_score IS NOT NULL, POW(confidence_score - IF(win, 1, 0), 2), NULL)) AS brier_sum,
    COUNTIF(decided AND confidence_score IS NOT NULL) AS brier_picks,
    COUNTIF(decided AND confidence_decile = 1) AS decile_1_picks,
    COUNTIF(win AND confidence_decile = 1) AS decile_1_wins,
    COUNTIF(decided AND confidence_decile = 2) AS decile_2_picks,
    COUNTIF(win AND confidence_decile = 2) AS decile_2_wins,
    COUNTIF(decided AND confidence_decile = 3) AS decile_3_picks,
    COUNTIF(win AND confidence_decile = 3) AS decile_3_wins,
    COUNTIF(decided AND confidence_decile = 4) AS decile_4_picks,
    COUNTIF(win AND confidence_decile = 4) AS decile_4_wins,
    COUNTIF(decided AND confidence_decile = 5) AS decile_5_picks,
    COUNTIF(win AND confidence_decile = 5) AS decile_5_wins,
    COUNTIF(decided AND confidence_decile = 6) AS decile_6_picks,
    COUNTIF(win AND confidence_decile = 6) AS decile_6_wins,
    COUNTIF(decided AND confidence_decile = 7) AS decile_7_picks,
    COUNTIF(win AND confidence_decile = 7) AS decile_7_wins,
    COUNTIF(decided AND confidence_decile = 8) AS decile_8_picks,
    COUNTIF(win AND confidence_decile = 8) AS decile_8_wins,
    COUNTIF(decided AND confidence_decile = 9) AS decile_9_picks,
    COUNTIF(win AND confidence_decile = 9) AS decile_9_wins,
    COUNTIF(decided AND confidence_decile = 10) AS decile_10_picks,
    COUNTIF(win AND confidence_decile = 10) AS decile_10_wins
  FROM picks
  GROUP BY game_date, system_id
),

windowed AS (
  SELECT
    d.day AS game_date,
    daily.system_id,
    w.window_days,
    CAST(DATE_SUB(d.day, INTERVAL w.window_days - 1 DAY) AS DATE) AS window_start,
    SUM(daily.decided_picks) AS decided_picks,
    SUM(daily.wins) AS wins,
    SUM(daily.units_standard) AS units_standard,
    SUM(daily.units_at_price) AS units_at_price,
    SUM(daily.error_sum) AS error_sum,
    SUM(daily.played) AS played,
    SUM(daily.brier_sum) AS brier_sum,
    SUM(daily.brier_picks) AS brier_picks,
    SUM(decile_1_picks) AS decile_1_picks,
    SUM(decile_1_wins) AS decile_1_wins,
    SUM(decile_2_picks) AS decile_2_picks,
    SUM(decile_2_wins) AS decile_2_wins,
    SUM(decile_3_picks) AS decile_3_picks,
    SUM(decile_3_wins) AS decile_3_wins,
    SUM(decile_4_picks) AS decile_4_picks,
    SUM(decile_4_wins) AS decile_4_wins,
    SUM(decile_5_picks) AS decile_5_picks,
    SUM(decile_5_wins) AS decile_5_wins,
    SUM(decile_6_picks) AS decile_6_picks,
    SUM(decile_6_wins) AS decile_6_wins,
    SUM(decile_7_picks) AS decile_7_picks,
    SUM(decile_7_wins) AS decile_7_wins,
    SUM(decile_8_picks) AS decile_8_picks,
    SUM(decile_8_wins) AS decile_8_wins,
    SUM(decile_9_picks) AS decile_9_picks,
    SUM(decile_9_wins) AS decile_9_wins,
    SUM(decile_10_picks) AS decile_10_picks,
    SUM(decile_10_wins) AS decile_10_wins
  FROM days AS d
  CROSS JOIN windows AS w
  JOIN daily
    ON daily.game_date BETWEEN CAST(DATE_SUB(d.day, INTERVAL w.window_days - 1 DAY) AS DATE) AND d.day
  GROUP BY d.day, daily.system_id, w.window_days
),

rated AS (
  SELECT
    *,
    NULLIF(decided_picks, 0) AS n,  -- no decided pick: no rate, no interval (and no division by 0)
    SAFE_DIVIDE(wins, decided_picks) AS p,
    1.959964 AS z
  FROM windowed
),

wilson AS (
  SELECT
    *,
    (p + z * z / (2 * n) - z * SQRT(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n) AS lower_bound,
    (p + z * z / (2 * n) + z * SQRT(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n) AS upper_bound
  FROM rated
)

SELECT
  game_date,
  system_id,
  window_days,
  window_start,
  decided_picks,
  wins,
  decided_picks - wins AS losses,
  ROUND(p, 4) AS win_rate,
  ROUND(lower_bound, 4) AS win_rate_lower,
  ROUND(upper_bound, 4) AS win_rate_upper,
  COALESCE(lower_bound > 110 / 210, FALSE) AS beats_break_even,
  ROUND(COALESCE(units_standard, 0), 4) AS units_won,
  ROUND(SAFE_DIVIDE(units_standard, decided_picks), 4) AS roi,
  ROUND(COALESCE(units_at_price, 0), 4) AS units_won_at_price,
  ROUND(SAFE_DIVIDE(units_at_price, decided_picks), 4) AS roi_at_price,
  ROUND(SAFE_DIVIDE(error_sum, played), 3) AS mae,
  ROUND(SAFE_DIVIDE(brier_sum, brier_picks), 4) AS brier_score,
  decile_1_picks,
  ROUND(SAFE_DIVIDE(decile_1_wins, decile_1_picks), 4) AS decile_1_win_rate,
  decile_2_picks,
  ROUND(SAFE_DIVIDE(decile_2_wins, decile_2_picks), 4) AS decile_2_win_rate,
  decile_3_picks,
  ROUND(SAFE_DIVIDE(decile_3_wins, decile_3_picks), 4) AS decile_3_win_rate,
  decile_4_picks,
  ROUND(SAFE_DIVIDE(decile_4_wins, decile_4_picks), 4) AS decile_4_win_rate,
  decile_5_picks,
  ROUND(SAFE_DIVIDE(decile_5_wins, decile_5_picks), 4) AS decile_5_win_rate,
  decile_6_picks,
  ROUND(SAFE_DIVIDE(decile_6_wins, decile_6_picks), 4) AS decile_6_win_rate,
  decile_7_picks,
  ROUND(SAFE_DIVIDE(decile_7_wins, decile_7_picks), 4) AS decile_7_win_rate,
  decile_8_picks,
  ROUND(SAFE_DIVIDE(decile_8_wins, decile_8_picks), 4) AS decile_8_win_rate,
  decile_9_picks,
  ROUND(SAFE_DIVIDE(decile_9_wins, decile_9_picks), 4) AS decile_9_win_rate,
  decile_10_picks,
  ROUND(SAFE_DIVIDE(decile_10_wins, decile_10_picks), 4) AS decile_10_win_rate,
  CURRENT_TIMESTAMP() AS computed_at
FROM wilson
