"""Dagster resources: the warehouse engines live in grading_pipeline.warehouse; the lock here."""
