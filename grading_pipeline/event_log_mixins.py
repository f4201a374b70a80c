"""What both of the project's event logs (event_log.py locally, postgres_event_log.py in production)
change in Dagster's SQL event log storage, mixed in before Dagster's class."""

from __future__ import annotations

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._serdes import serialize_value


class TablesKnownOnce:
    """Dagster asks whether a table exists before many queries (for every check event, through
    `supports_asset_checks`), each time asking the database. A table, once there, stays (Dagster's
    migrations only add), so a table found is not asked about again."""

    def has_table(self, table_name: str) -> bool:
        known: set[str] = self.__dict__.setdefault("_known_tables", set())
        if table_name not in known:
            if not super().has_table(table_name):
                return False
            known.add(table_name)
        return True


class PlannedCheckRowsSerializedOnce:
    """Dagster's `_store_asset_check_evaluation_planned` writes one row per partition of the run and
    serializes the planned event again for each (180 times per check for a season, each copy holding
    the 180 partition keys): the same rows, the event serialized once."""

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        planned = event.get_dagster_event().event_specific_data
        partition_keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        row = dict(
            asset_key=planned.asset_key.to_string(),
            check_name=planned.check_name,
            run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=serialize_value(event),
            evaluation_event_timestamp=self._event_insert_timestamp(event),
            evaluation_event_storage_id=event_id,
        )
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert().values([{**row, "partition": key} for key in partition_keys]))
