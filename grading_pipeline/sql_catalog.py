"""The project's SQL texts: one source of truth in `sql/`, written in BigQuery's dialect.

Each engine receives the same text, translated by sqlglot and with dataset names mapped (e.g. a
test prefix on BigQuery). Values are always bound as named query parameters (`@game_date`), never
interpolated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

SOURCE_DIALECT = "bigquery"


def sql_root() -> Path:
    """`sql/` beside the package in a checkout; the installed copy under the package otherwise."""
    checkout = Path(__file__).resolve().parent.parent / "sql"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "sql"


@functools.cache
def read_sql(name: str) -> str:
    path = sql_root() / name
    if not path.is_file():
        raise FileNotFoundError(f"SQL text {name!r} not found under {sql_root()}")
    return path.read_text()


@dataclass(frozen=True)
class SqlDialect:
    """How one engine spells the project's SQL: its sqlglot dialect and its dataset names."""

    name: str
    dataset_names: tuple[tuple[str, str], ...] = ()  # (logical dataset, physical dataset)
    catalog: str | None = None  # BigQuery project, when tables must be fully qualified

    def dataset(self, logical: str) -> str:
        return dict(self.dataset_names).get(logical, logical)

    @functools.cache
    def render(self, name: str) -> str:
        """The named text, translated for this engine; multi-statement texts stay `;`-separated."""
        return ";\n".join(self.render_expression(e) for e in _parse(name))

    def render_text(self, text: str) -> str:
        """A BigQuery-dialect text that is not a file of `sql/` (e.g. a re-keyed variant of one)."""
        return ";\n".join(self.render_expression(e) for e in sqlglot.parse(text, read=SOURCE_DIALECT) if e)

    def render_expression(self, expression: exp.Expression) -> str:
        mapped = expression.transform(self._map_table)
        if self.name == "duckdb":
            mapped = mapped.transform(_countif_counts_only_true).transform(_round_avg_like_bigquery)
        return mapped.sql(self.name, unsupported_level=sqlglot.ErrorLevel.IGNORE)

    def table(self, qualified: str) -> str:
        """`dataset.table` (logical) -> this engine's spelling of it."""
        return self.render_expression(exp.to_table(qualified, dialect=SOURCE_DIALECT))

    def _map_table(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.args.get("db") is not None:
            node = node.copy()
            node.set("db", exp.to_identifier(self.dataset(node.db)))
            if self.catalog:
                node.set("catalog", exp.to_identifier(self.catalog))
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


@functools.cache
def _parse(name: str) -> list[exp.Expression]:
    return [e for e in sqlglot.parse(read_sql(name), read=SOURCE_DIALECT) if e is not None]


def output_columns(name: str) -> list[str]:
    """The column names a SELECT text produces, in order (used to build INSERT column lists)."""
    (statement,) = _parse(name)
    return list(statement.named_selects)


def ddl_names() -> list[str]:
    return sorted(f"ddl/{p.name}" for p in (sql_root() / "ddl").glob("*.sql"))
