"""sqlglot's side of :mod:`grading_pipeline.sql_catalog`: parsing the project's BigQuery-dialect
texts and writing them for an engine. Imported only when a translation is not cached yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from grading_pipeline.sql_catalog import SqlDialect

SOURCE_DIALECT = "bigquery"


def _parse(text: str) -> list[exp.Expression]:
    return [e for e in sqlglot.parse(text, read=SOURCE_DIALECT) if e is not None]


def translate(dialect: "SqlDialect", text: str) -> str:
    return ";\n".join(render_expression(dialect, e) for e in _parse(text))


def render_table(dialect: "SqlDialect", qualified: str) -> str:
    return render_expression(dialect, exp.to_table(qualified, dialect=SOURCE_DIALECT))


def render_expression(dialect: "SqlDialect", expression: exp.Expression) -> str:
    mapped = expression.transform(lambda node: _map_table(dialect, node))
    if dialect.strip_comments:
        for node in mapped.walk():
            node.comments = None
    if dialect.name == "duckdb":
        mapped = (mapped.transform(_countif_counts_only_true).transform(_round_avg_like_bigquery)
                  .transform(_row_fingerprint_as_hash))
    return mapped.sql(dialect.name, unsupported_level=sqlglot.ErrorLevel.IGNORE)


def _map_table(dialect: "SqlDialect", node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and node.args.get("db") is not None:
        node = node.copy()
        node.set("db", exp.to_identifier(dialect.dataset(node.db)))
        if dialect.catalog:
            node.set("catalog", exp.to_identifier(dialect.catalog))
    return node


def _countif_counts_only_true(node: exp.Expression) -> exp.Expression:
    """BigQuery's COUNTIF is 0 when no row is TRUE; DuckDB's COUNT_IF is NULL when every input is
    NULL. Counting `x IS TRUE` keeps BigQuery's meaning on DuckDB."""
    if isinstance(node, exp.CountIf) and not isinstance(node.this, exp.Is):
        return exp.CountIf(this=exp.Is(this=exp.paren(node.this.copy()), expression=exp.true()))
    return node


def _round_avg_like_bigquery(node: exp.Expression) -> exp.Expression:
    """BigQuery's AVG(NUMERIC) is exact; DuckDB's AVG(DECIMAL) is a DOUBLE, so ROUND differs on
    ties (an average of exactly 0.425 rounds to 0.43 on BigQuery, 0.42 on DuckDB). Round the
    exact decimal value instead. (Found by the engine-parity test.)"""
    if isinstance(node, exp.Round) and isinstance(node.this, exp.Avg):
        exact = exp.cast(node.this.copy(), exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb"))
        rounded = exp.Round(this=exact, decimals=node.args.get("decimals"))
        return exp.cast(rounded, exp.DataType.build("DOUBLE", dialect="duckdb"))
    return node


def _row_fingerprint_as_hash(node: exp.Expression) -> exp.Expression:
    """A row's fingerprint, `FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(a, b, ...)))` on BigQuery, is
    DuckDB's variadic `hash(a, b, ...)`: 40x faster there than hashing a text built from the row
    (the observation of the inputs runs every few minutes). The values differ between engines; each
    compares only with itself."""
    if isinstance(node, exp.FarmFingerprint) and len(node.expressions) == 1:
        (argument,) = node.expressions
        if isinstance(argument, exp.JSONFormat) and isinstance(argument.this, exp.Struct):
            fields = [f.expression if isinstance(f, exp.PropertyEQ) else f for f in argument.this.expressions]
            return exp.Anonymous(this="hash", expressions=[f.copy() for f in fields])
    return node


def output_columns(text: str) -> list[str]:
    (statement,) = _parse(text)
    return list(statement.named_selects)


def type_in(bigquery_type: str, dialect: str) -> str:
    return exp.DataType.build(bigquery_type, dialect=SOURCE_DIALECT).sql(dialect)


def ddl_columns(text: str) -> tuple[str, list[tuple[str, str, bool]]]:
    (create,) = _parse(text)
    if not isinstance(create, exp.Create):
        raise ValueError(f"not a CREATE TABLE: {text[:80]!r}")
    table = create.this.this
    columns = [
        (column.name, column.kind.sql(SOURCE_DIALECT).upper(),
         any(isinstance(c.kind, exp.NotNullColumnConstraint) for c in column.constraints))
        for column in create.find_all(exp.ColumnDef)
    ]
    return f"{table.db}.{table.name}", columns
