"""The warehouse seam: what the assets need from an engine (DuckDB locally, BigQuery in production)."""

from grading_pipeline.warehouse.base import Fence, Publication, Warehouse, WarehouseSession
from grading_pipeline.warehouse.duckdb_warehouse import DuckDBWarehouse

__all__ = ["DuckDBWarehouse", "Fence", "Publication", "Warehouse", "WarehouseSession"]
