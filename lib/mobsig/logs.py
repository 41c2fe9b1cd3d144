"""Structured logging: every line carries job, partition and run id.

Two formats (``--log-format``, or ``$MOBSIG_LOG_FORMAT`` where no command line is at hand,
e.g. a spark-submit run): ``text`` (default)::

    2026-06-02T01:02:03 INFO mobsig.runner [job=clean_stays part=dt=2026-06-02 run=...] ...

and ``json`` for log shippers: one JSON object per line with ``time`` (ISO 8601 with
offset), ``level``, ``logger``, ``message``, the bound context (``job``, ``part``,
``run``) and, where a line has them, structured fields (``stage``, ``table``, ``rows``,
``step``, ``of``, ...); an exception's trace is in ``exc``. Spark's own JVM lines follow
the same format in the local profile (``data/log4j2-json.properties``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "mobsig_log_context", default=None)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        record.ctx = " ".join(f"{k}={v}" for k, v in ctx.items()) if ctx else "-"
        record.ctx_values = dict(ctx)
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s [%(ctx)s] %(message)s"
FORMATS = ("text", "json")
ENV_FORMAT = "MOBSIG_LOG_FORMAT"
#: structured fields a line may carry (``log.info(..., extra=fields(stage="gate", ...))``)
FIELD_PREFIX = "mobsig_"
_RESERVED = ("time", "level", "logger", "message", "exc")
_format = ["text"]


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: structured fields the json format emits as keys (the
    text format shows only the message, which should say the same)."""
    return {FIELD_PREFIX + k: v for k, v in values.items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound context and the
    line's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created).astimezone().isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage()}
        extra = {**(getattr(record, "ctx_values", None) or {}),
                 **{k[len(FIELD_PREFIX):]: v for k, v in record.__dict__.items()
                    if k.startswith(FIELD_PREFIX)}}
        for k, v in extra.items():
            obj[f"ctx_{k}" if k in _RESERVED else k] = v
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return json.dumps(obj, ensure_ascii=False, default=str)


def log_format() -> str:
    """The format :func:`setup_logging` set (``text`` or ``json``)."""
    return _format[0]


def format_from_env(given: str | None = None) -> str:
    """``given`` (the command line), else ``$MOBSIG_LOG_FORMAT``, else ``text``;
    ValueError naming the choices for anything else."""
    value = (given or os.environ.get(ENV_FORMAT) or "text").strip().lower()
    if value not in FORMATS:
        raise ValueError(f"log format {value!r} (${ENV_FORMAT} or --log-format) must be "
                         f"one of {', '.join(FORMATS)}")
    return value


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test capture, redirects)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401 - property
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it; ignore
        pass


def setup_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """Configure the root logger once (idempotent; a later call may change the level and
    the format); quiet the chatty libraries. ``fmt``: ``text`` or ``json``; None: keep
    the current one (``text`` at first)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_mobsig", False)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.addFilter(_ContextFilter())
        handler._mobsig = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        fmt = fmt or _format[0]
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"log format {fmt!r} must be one of {', '.join(FORMATS)}")
        _format[0] = fmt
        handler.setFormatter(JsonFormatter() if fmt == "json"
                             else logging.Formatter(FORMAT, "%Y-%m-%dT%H:%M:%S"))
    root.setLevel(level)
    for noisy in ("py4j", "great_expectations", "urllib3", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def current_context() -> dict[str, str]:
    """The key=value pairs bound by the enclosing :func:`log_context` blocks (job, part,
    run), e.g. for a kept validation result to name its run."""
    return dict(_context.get() or {})


@contextlib.contextmanager
def log_context(**values: str) -> Iterator[None]:
    """Bind key=value pairs (job, dt, run) to every log line inside the block."""
    bound = {k: str(v) for k, v in values.items() if v is not None}
    merged = {**(_context.get() or {}), **bound}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)
