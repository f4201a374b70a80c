-- The observations' per-date fingerprint of a CTE `hashed` (game_date, row_hash): the row count,
-- and the XOR and a sum of the rows' fingerprints, which no order of the rows changes.
SELECT
  game_date,
  COUNT(*) AS row_count,
  BIT_XOR(row_hash) AS hash_xor,
  SUM(MOD(row_hash, 4294967291)) AS hash_sum
FROM hashed
GROUP BY game_date
ORDER BY game_date
