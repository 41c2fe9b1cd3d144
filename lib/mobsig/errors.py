"""One exception class per kind of failure. The CLI maps each to an exit code."""

from __future__ import annotations


class MobsigError(Exception):
    """Base class: an error the product explains to the operator (no traceback needed)."""

    exit_code = 1


class ConfigError(MobsigError):
    """Bad configuration or arguments: raised before any Spark work starts."""

    exit_code = 2


class SetupError(MobsigError):
    """The machine is not set up (missing jars, wrong Python, no Maven)."""

    exit_code = 3


class InputError(MobsigError):
    """Input data is missing or unusable (missing day folder, empty input, unreadable file)."""

    exit_code = 4


class SchemaError(MobsigError):
    """A DataFrame does not match the schema of the table it is written to."""

    exit_code = 5


class DataQualityError(MobsigError):
    """A blocking quality gate failed; nothing was written."""

    exit_code = 6

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result or {}
