-- A date's input version, aggregated over its rows' row_hash: `rows=N;hash=X.Y`, the row count and
-- the XOR and a sum of the rows' fingerprints, which no order of the rows changes. What an
-- observation records as the date's data version and a graded row records it was graded from.
CONCAT(
  'rows=', CAST(COUNT(*) AS STRING),
  ';hash=', CAST(BIT_XOR(row_hash) AS STRING), '.', CAST(SUM(MOD(row_hash, 4294967291)) AS STRING)
)
