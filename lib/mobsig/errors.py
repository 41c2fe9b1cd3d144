"""One exception class per kind of failure. The CLI maps each to an exit code."""

from __future__ import annotations

import re


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


class ConcurrentWriteError(MobsigError):
    """Another run wrote the same table partition at the same time and won (Delta's
    optimistic concurrency); this run wrote nothing: re-run it once the other has ended."""

    exit_code = 7


class TargetsMissedError(MobsigError):
    """``mobsig evaluate --require``: a measured accuracy target was missed (a
    measurement, not a job: only the results file was written)."""

    exit_code = 8


_CONCURRENT = ("ConcurrentAppendException", "ConcurrentWriteException",
               "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
               "ConcurrentTransactionException", "MetadataChangedException",
               "ProtocolChangedException", "DELTA_CONCURRENT_")
_CORRUPT = ("FAILED_READ_FILE", "Unexpected end of input stream", "Not in GZIP format",
            "invalid block type", "invalid distance", "incorrect header check",
            "invalid stored block lengths", "Corrupt GZIP trailer", "EOFException")
_FILE = re.compile(r"(?:reading file|file) ((?:file|hdfs|s3a?|viewfs|abfss?|gs):[^\s.]*"
                   r"(?:\.[^\s.]+)*)")


def _text(exc: BaseException) -> str:
    java = getattr(exc, "java_exception", None)
    return str(exc) + (" " + str(java.toString()) if java is not None else "")


def corrupt_file_of(exc: BaseException) -> str | None:
    """The URI of the input file a Spark failure could not read to its end (a truncated or
    corrupt gzip, unreadable data), or None when ``exc`` is not such a failure (or names
    no file)."""
    if isinstance(exc, MobsigError):
        return None
    text = _text(exc)
    if not any(k in text for k in _CORRUPT):
        return None
    m = _FILE.search(text)
    return m.group(1) if m else None


def spark_failure(exc: BaseException, what: str = "") -> MobsigError | None:
    """The product's error for a known Spark/Delta failure (a JVM exception's text), or
    None: a corrupt or truncated input file -> InputError naming the file; a concurrent
    Delta commit that lost -> ConcurrentWriteError. ``what`` names the job and partition."""
    if isinstance(exc, MobsigError):
        return None
    text = _text(exc)
    prefix = f"{what}: " if what else ""
    if any(k in text for k in _CONCURRENT):
        return ConcurrentWriteError(
            f"{prefix}another run of the same partition is writing the same table (Delta "
            "concurrent commit); nothing of this run was written: re-run it when the other "
            "run has finished")
    if any(k in text for k in _CORRUPT):
        name = corrupt_file_of(exc) or "an input file"
        return InputError(f"{prefix}{name} is corrupt or truncated (cannot be decompressed "
                          "or read to its end): replace it, or move it out of the day folder")
    return None
