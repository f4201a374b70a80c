"""Message builders and parsers on their own."""

from __future__ import annotations

from dagster import Definitions, MetadataValue

from grading_pipeline.alerts.messages import (
    Alert,
    check_failure_alert,
    compact_dates,
    describe_partitions,
)
from grading_pipeline.sensors import all_sensors


def test_the_daily_sweep_is_a_duplicate_alert_naming_the_dates_to_regrade():
    alert = check_failure_alert(
        asset_path=["nba_predictions", "prediction_accuracy"], check_name="no_duplicates_in_recent_days",
        severity="ERROR", partition=None, blocking=False, description=None, run_id="r1", run_tags={},
        webserver_base_url="http://w",
        metadata={"game_date": "2026-01-10..2026-01-16", "duplicate_keys": 5, "extra_rows": 6,
                  "per_date": MetadataValue.json({"2026-01-11": 2, "2026-01-12": 0, "2026-01-14": 3}),
                  "sample_keys": MetadataValue.json([{"game_date": "2026-01-11", "player_lookup": "a", "game_id": "g",
                                                      "system_id": "s", "line_value": None, "copies": 2}])},
    )
    text = alert.plain_text()
    assert alert.title == "Grading Duplicate Alert"
    assert "Dates with duplicates: 2026-01-11, 2026-01-14" in text
    assert "found by the daily duplicate sweep" in text
    assert "grading-pipeline grade --start 2026-01-11 --end 2026-01-14" in text
    assert "2026-01-11 | a | g | s | line NULL | ×2" in text


def test_slack_limits_and_escaping():
    huge = "x" * 10_000
    alert = Alert(title="T" * 300, summary="a < b & c", fields=tuple((f"f{i}", huge) for i in range(25)),
                  sections=(("Error", "```\n" + huge + "\n```"),))
    blocks = alert.slack_blocks()
    assert len(blocks[0]["text"]["text"]) <= 150
    assert blocks[1]["text"]["text"] == "a &lt; b &amp; c"
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 5]
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])
    error = blocks[-1]["text"]["text"]
    assert len(error) <= 3000 and error.endswith("\n```")  # a truncated code block is closed
    assert len(alert.slack_text()) <= 40_000


def test_dates_and_partitions_are_described_compactly():
    assert compact_dates(["2026-01-03", "2026-01-01", "2026-01-02", "2026-01-07"]) == "2026-01-01..2026-01-03, 2026-01-07"
    assert describe_partitions(None, {"dagster/asset_partition_range_start": "2026-01-01",
                                      "dagster/asset_partition_range_end": "2026-01-31"}) == "2026-01-01..2026-01-31"
    assert describe_partitions("2026-01-05", {}) == "2026-01-05"


def test_the_sensors_load_with_the_code_location():
    from grading_pipeline.alerts import slack_alerts_from_env
    from grading_pipeline.definitions import build_definitions

    defs = build_definitions()
    names = {s.name for s in all_sensors}
    if not names <= {s.name for s in (defs.sensors or [])}:
        defs = Definitions.merge(defs, Definitions(sensors=all_sensors, resources={"slack_alerts": slack_alerts_from_env()}))
    Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    for name in names:
        sensor_def = repo.get_sensor_def(name)
        assert sensor_def.default_status.value == "RUNNING"
        assert "slack_alerts" in sensor_def.required_resource_keys
