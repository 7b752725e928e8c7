"""What an outbox row carries to a sink: one payload model per kind of row.

The `deliveries.kind` column names the model (KINDS); the `payload` JSON column holds its fields.
A sink receives the model, never a dict, and tells the kinds apart by class (`isinstance`). Each
model also says, in one place, the row's dedupe key (unique per destination: a repeat is a no-op)
and the issue it is about (`issue_uuid`, None for a row that stands for no one issue).

The keys keep the spellings the previous releases wrote (`r1_…`, `…~20~…`, `st~…`, `digest_…`,
`…~done`, `mute_N`), so a row queued before an upgrade is not queued again after it; nothing
reads meaning out of them any more.

This module is a leaf: it imports nothing of relay, so every layer may use it.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

ISSUE, REMINDER, REMINDER_DIGEST, STATUS = "issue", "reminder", "reminder_digest", "status"
DIGEST, DIGEST_STATUS, MUTE_SUMMARY, TEST = "digest", "digest_status", "mute_summary", "test"
MAX_KEY = 64  # the dedupe_key column's width


class Card(BaseModel):
    """What every card shows. Unknown fields of an older row are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)
    kind: ClassVar[str]
    uuid: str  # the issue's UUID; a digest's or summary's own id for those
    title: str = ""
    level: str = ""
    source: str = ""
    message: str = ""
    create_at: int = 0
    channel: str = ""
    # the issue's managers: account UUIDs, or Guance's managerInfos objects (name, email)
    managers: list[str | dict[str, Any]] = []

    def dedupe_key(self) -> str:
        return self.uuid

    def issue_uuid(self) -> str | None:
        """The one issue this row is about (None: a digest, a summary, a test card)."""
        return None

    def stored(self) -> dict[str, Any]:
        """The `payload` column's JSON."""
        return self.model_dump(mode="json")


class IssueCard(Card):
    """An issue's own card, queued by the poller."""

    kind = ISSUE
    # what a /mute of it holds back (relay/guance/model.py mute_key_of): "" none; None on a
    # card queued before mutes had keys (its `source` stands in)
    mute_key: str | None = None

    def issue_uuid(self) -> str | None:
        return self.uuid


class Reminder(IssueCard):
    """The `reminder`-th "still unclaimed" card of an issue (relay/pipeline/remind.py)."""

    kind = REMINDER
    reminder: int

    def dedupe_key(self) -> str:
        return self.key_for(self.reminder, self.uuid)

    @staticmethod
    def key_for(reminder: int, issue: str) -> str:
        return f"r{reminder}_{issue}"


class FollowUp(Card):
    """A change told after a card: updates the card where the platform can (`message_id`, the
    card's id there), else one line in the chat."""

    message_id: str | None = None
    status: str = ""  # the new status in words (or "7/12" for a digest)
    by: str = ""  # who made the change, where one person did


class StatusChange(FollowUp):
    """An issue's status or managers changed (relay/pipeline/track_issues.py)."""

    kind = STATUS
    status_type: int
    previous_type: int
    transition: str = "claimed"  # relay/config/settings.py TRANSITIONS
    announce: bool = True  # False: only update the card (the person was answered in chat)
    changed_at: int = 0
    open_seconds: int = 0

    def dedupe_key(self) -> str:
        return change_key(self.uuid, self.status_type, self.changed_at)

    def issue_uuid(self) -> str | None:
        return self.uuid


def change_key(issue_uuid: str, status: int, update_at: int) -> str:
    """One state change's key (issue, state, Guance's updateAt), at most MAX_KEY characters."""
    key = f"{issue_uuid}~{status}~{update_at}"
    if len(key) <= MAX_KEY:
        return key
    return "st~" + hashlib.sha1(key.encode()).hexdigest()


class StormDigest(Card):
    """One card standing for a storm of new issues of one channel (relay/pipeline/digest.py);
    `uuid` is the digest's own id."""

    kind = DIGEST
    issues: list[str] = []


class DigestStatus(FollowUp):
    """A storm digest's one follow-up: how many of its issues are resolved or closed."""

    kind = DIGEST_STATUS
    issues: list[str] = []
    total: int
    resolved: int
    closed: int

    def dedupe_key(self) -> str:
        return self.key_for(self.uuid)

    @staticmethod
    def key_for(digest: str) -> str:
        """The key of the follow-up of the digest whose id is `digest`."""
        return f"{digest}~done"


class ReminderDigest(Card):
    """One card standing for the reminders one `remind` run has for one chat (more than one):
    `issues` are the reminded issues; each one's Reminder row is kept as `digested`."""

    kind = REMINDER_DIGEST
    issues: list[str] = []


class MuteSummary(Card):
    """The cards a `/mute` held back, summed up when it ended; `uuid` is `mute_<mute id>`."""

    kind = MUTE_SUMMARY


class TestCard(Card):
    """`relay send-test`'s card; sent straight to a sink, never written to the outbox."""

    kind = TEST


KINDS: dict[str, type[Card]] = {model.kind: model for model in (
    IssueCard, Reminder, ReminderDigest, StatusChange, StormDigest, DigestStatus, MuteSummary,
    TestCard)}


def load(kind: str, payload: dict[str, Any]) -> Card:
    """The model of a stored row's `kind` and `payload`."""
    return KINDS[kind].model_validate(payload)
