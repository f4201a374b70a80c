"""The two inputs as observable source assets upstream of the grades: the lineage shows where grades
come from, and an observation records each recent game date's fingerprint as its data version."""

from __future__ import annotations

from dagster import DataVersion, DataVersionsByPartition, SourceAsset, observable_source_asset

from grading_pipeline.assets.graded_tables import ENGINE_KIND
from grading_pipeline.observations import input_fingerprints, observation_window
from grading_pipeline.partitions import game_date_partitions
from grading_pipeline.tables import INPUT_TABLES, InputTable
from grading_pipeline.warehouse.base import Warehouse

INPUTS_GROUP = "inputs"


def observed_input(table: InputTable) -> SourceAsset:
    @observable_source_asset(
        key=table.asset_key,
        description=f"{table.description}\n\nExternal: not written here. An observation fingerprints each of the "
                    "last GRADING_OBSERVATION_DAYS (14) game dates (row count and an order-independent hash of "
                    f"every column, `sql/{table.fingerprint_sql}`) as that date's data version.",
        partitions_def=game_date_partitions,
        group_name=INPUTS_GROUP,
        tags={f"dagster/kind/{ENGINE_KIND}": "", "domain": "grading"},
    )
    def observe(context, warehouse: Warehouse) -> DataVersionsByPartition:
        start, end = observation_window()
        with warehouse.session(read_only=True) as session:
            versions = input_fingerprints(session, table, start, end)
        context.log.info(f"{table.name}: fingerprinted {len(versions)} game dates, {start}..{end}")
        return DataVersionsByPartition({day.isoformat(): DataVersion(v) for day, v in versions.items()})

    return observe


observed_inputs = [observed_input(table) for table in INPUT_TABLES]
