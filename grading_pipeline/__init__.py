"""Grades NBA player-points prop predictions day by day with Dagster."""
