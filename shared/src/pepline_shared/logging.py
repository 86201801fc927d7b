"""structlog JSON logging, configured once per process.

Every service calls :func:`configure_logging` at start-up with its name; every line then
carries ``service`` so that logs from a shared collector can be told apart. Nothing else in
pepline configures logging.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["configure_logging", "get_logger"]

_configured_service: str | None = None


def _add_service(service: str) -> Processor:
    def add_service(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure structlog (and stdlib logging, for libraries) to print JSON lines."""
    global _configured_service
    _configured_service = service
    out = stream or sys.stderr
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries (slixmpp, aiokafka, paho) log through stdlib: render them as the same JSON.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Third-party libraries are chatty at INFO; keep them one level quieter than ours.
    root.setLevel(max(numeric, logging.WARNING))


def get_logger(name: str | None = None, **bound: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name, **bound)
    return logger
