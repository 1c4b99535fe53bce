"""structlog, configured once: JSON lines in production, a readable console locally.

Request and order ids are bound through contextvars by the HTTP layer. Event payloads,
names, e-mails and products never reach a log line: handlers log ids and outcomes only, and
a processor drops any key on the deny-list as a second line of defence.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

PHI_KEYS = frozenset(
    {
        "name",
        "email",
        "patient_name",
        "state",
        "sig",
        "product_name",
        "note",
        "data",
        "payload",
        "body",
        "meds",
        "address",
        "phone",
        "dob",
    }
)


def _drop_phi(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in PHI_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    return event_dict


def _add_pid(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict.setdefault("pid", os.getpid())  # which of `ledger serve --processes N` said it
    return event_dict


def configure_logging(*, json_lines: bool, level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_pid,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_phi,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
