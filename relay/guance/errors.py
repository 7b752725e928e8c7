"""Guance's answers as typed errors, so callers can tell "try again later" from "fix your
settings"."""

from __future__ import annotations


class GuanceError(Exception):
    """Guance could not do what was asked. `retryable` says whether a later try may succeed."""

    retryable = True


class GuanceTransportError(GuanceError):
    """No usable answer: connection refused, timeout, or a body that is not the JSON envelope."""


class GuanceNoAnswer(GuanceTransportError):
    """A comment was sent but no answer came in time: Guance may have posted it, so it is not
    tried again by itself (it would land twice)."""

    retryable = False


class GuanceHTTPError(GuanceError):
    """Guance answered with an error status or an envelope with success: false."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {error_code or ''} {message or ''}".strip())
        self.status, self.error_code, self.message = status, error_code, message


class GuanceRateLimited(GuanceHTTPError):
    """The API key's (or workspace's) call limit was hit; try again in a minute."""


class GuanceBudgetExhausted(GuanceError):
    """relay's own budget for this key is used up; `wait` seconds until the next call."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"Guance call budget used up; next call in {wait:.0f} s")
        self.wait = wait


class GuanceAuthError(GuanceHTTPError):
    """The API key was refused: fix RELAY_GUANCE_API_KEY."""

    retryable = False


class GuanceNotFound(GuanceHTTPError):
    """The issue (or other object) does not exist."""

    retryable = False
