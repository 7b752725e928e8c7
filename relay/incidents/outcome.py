"""An action's result as the domain sees it: what happened (`Kind`) and its facts. Routes turn
it into their own answer (a JSON body, a toast, a line in a thread, a page)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    DONE = "done"  # changed as asked
    FALLBACK = "fallback"  # Guance took less than asked (Close → Resolved, a claim as comment)
    REFUSED = "refused"  # Guance refused the change (or relay's API key): nothing changed
    FAILED = "failed"  # Guance gave no usable answer before acting: nothing changed
    NOT_FOUND = "not_found"  # no such issue in Guance
    BUSY = "busy"  # rate-limited (Guance, relay's budget): nothing changed, try again later
    NO_ANSWER = "no_answer"  # no answer in time: the change may have been made
    MAY_HAVE_LANDED = "may_have_landed"  # Guance failed (5xx) mid-change: it may have been made
    NOT_ALLOWED = "not_allowed"  # relay's rules: not from this chat, person or route
    INVALID = "invalid"  # the command cannot be done as given (a mute without a duration)


CHANGED = (Kind.DONE, Kind.FALLBACK)
UNSURE = (Kind.NO_ANSWER, Kind.MAY_HAVE_LANDED)  # Guance may hold the change: do not free a link


@dataclass(frozen=True)
class ActionOutcome:
    kind: Kind
    issue: str
    action: str  # claim, resolve, close, reopen, mute
    said: str  # the sentence for the person who acted, in RELAY_LANGUAGE
    status: int | None = None  # the statusType now set (None: unchanged or unknown)
    time: str = ""  # when the comment naming who acted was posted (formatted)
    detail: str = ""  # Guance's error, redacted (for logs and the reply log)
    retry_after: int | None = None  # BUSY: seconds until a try may succeed
    setting: str = ""  # NOT_ALLOWED: the setting that decides it

    @property
    def done(self) -> bool:
        return self.kind in CHANGED
