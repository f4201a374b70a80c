"""Errors that stop a partition with a message a person can act on. None is ever turned into an
empty result."""


class GradingError(Exception):
    """Base class: something about the inputs or the warehouse keeps a date from being graded."""


class MissingTableError(GradingError):
    """An input table does not exist in the warehouse."""


class BadInputError(GradingError):
    """The source rows for a date cannot be graded as they are (NULL keys, conflicting actuals)."""


class ActualsNotLoadedError(GradingError):
    """Predictions exist for a date but the box scores have not (all) arrived."""


class MissingPredictionsError(GradingError):
    """Games were played on a date (actuals exist) but no predictions were found for it."""


class InvalidPartitionKeyError(GradingError):
    """A partition key that is not a calendar date."""


class FencedOutError(GradingError):
    """A newer lock holder has claimed the partition: this writer's lease ran out."""


class AuditFailedError(GradingError):
    """A blocking check failed on the new rows before COMMIT: the write was rolled back and the
    previous version of every date of the run stays, whole."""


class ImpossibleValuesError(BadInputError):
    """Input values no game can produce (negative or absurd points, NaN): the date is not graded."""

    def __init__(self, message: str, game_date=None):
        super().__init__(message)
        self.game_date = game_date


class EmptyReplaceError(GradingError):
    """A graded date's inputs are now empty: its grades are not replaced by nothing unless allowed."""


class WarehouseUnavailableError(GradingError):
    """The warehouse cannot be opened (a path that is no DuckDB file, no permission, a lock held too long)."""


class SchemaMismatchError(BadInputError):
    """An input table lacks a column the grading reads, or holds it with another kind of type."""
