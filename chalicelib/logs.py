"""Logging: Powertools structured JSON, and no phone number in any log line.

Code logs numbers only through `masked()`; this is the safety net for everything else (library
messages, a careless f-string): a filter on every handler erases known number fields with Powertools
DataMasking and scrubs anything shaped like a phone number from the message."""
from __future__ import annotations

import logging
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.utilities.data_masking import DataMasking

# +14158675309 / +1 415 867 5309, (415) 867-5309 / 415-867-5309, and any 7+ bare digits.
# Dates (2026-11-23) and times keep their shape.
PHONE = re.compile(r"\+\d[\d ().-]{6,}\d|\(?\b\d{3}\)?[ .-]?\d{3}[ .-]\d{4}\b|\b\d{7,}\b")
# Agents are people too: their ids may be phone numbers, their contacts often are.
SENSITIVE = ("number", "caller", "callback_number", "to", "from", "From", "To", "Caller", "phone",
             "agent", "agent_id", "contact")

_masker = DataMasking()


def scrub(text: str) -> str:
    return PHONE.sub("*****", text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if record.args:
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in
                                (record.args if isinstance(record.args, tuple) else (record.args,)))
        for key in SENSITIVE:
            value: Any = record.__dict__.get(key)
            if isinstance(value, str) and value and not value.startswith("***"):
                record.__dict__[key] = _masker.erase(value)
        return True


def configure(level: str = "INFO") -> Logger:
    """Powertools Logger for the service, its JSON format copied to our modules' loggers, masked."""
    logger = Logger(service="holdfast", level=level)
    # The Chalice app's own logger has the same name and may carry Chalice's plain handler: take
    # only the Powertools (JSON) handler.
    ours = [h for h in logger.handlers if isinstance(h.formatter, LambdaPowertoolsFormatter)]
    for handler in ours:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    for name in ("chalicelib", "devstack"):
        target = logging.getLogger(name)
        target.setLevel(level)
        for handler in ours:
            if handler not in target.handlers:
                target.addHandler(handler)
        target.propagate = False
    return logger
