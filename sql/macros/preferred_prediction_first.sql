-- Which row of a business key wins when there are several: the EARLIEST prediction, the one
-- published before tip-off (a re-run made after the game must never replace it). The other
-- terms only make the choice total, hence deterministic. The grading ranks source predictions
-- with it; the cleanup ranks graded rows with it (each adds a last tie-breaker of its own).
prediction_created_at ASC NULLS LAST,
predicted_points ASC NULLS LAST,
confidence_score ASC NULLS LAST,
recommendation ASC NULLS LAST,
model_version ASC NULLS LAST
