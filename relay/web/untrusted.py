"""Reading what any client may send without crashing on it: JSON nested deeper than the
parser's recursion, and numbers in headers (`str.isdigit()` takes `²` and 5,000 digits, which
`int()` then refuses)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

ASCII_DIGITS = re.compile(r"[0-9]{1,19}")  # up to 19 digits: any ms timestamp, nothing huge


class NestingTooDeep(ValueError):
    """JSON nested deeper than the parser's recursion: a malformed body like any other."""


def loads(data: str | bytes) -> Any:
    """json.loads, with too deep a nesting a ValueError (its RecursionError would be a 500)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise NestingTooDeep("JSON nested too deeply") from None


class UntrustedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, so `request.get_json()` treats too deep a nesting as malformed JSON."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise NestingTooDeep("JSON nested too deeply") from None


def whole_number(text: str) -> int | None:
    """An ASCII decimal number of at most 19 digits, or None."""
    text = text.strip()
    return int(text) if ASCII_DIGITS.fullmatch(text) else None
