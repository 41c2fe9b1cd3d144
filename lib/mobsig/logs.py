"""Structured logging: every line carries job, partition and run id."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
import uuid
from collections.abc import Iterator

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "mobsig_log_context", default=None)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        record.ctx = " ".join(f"{k}={v}" for k, v in ctx.items()) if ctx else "-"
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s [%(ctx)s] %(message)s"


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


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once (idempotent); quiet the chatty libraries."""
    root = logging.getLogger()
    if not any(getattr(h, "_mobsig", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%dT%H:%M:%S"))
        handler.addFilter(_ContextFilter())
        handler._mobsig = True  # type: ignore[attr-defined]
        root.addHandler(handler)
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
