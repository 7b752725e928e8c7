"""Parse the reply convention `#<issueUUID>#<text>` sent by @-mentioning the bot.

Tolerant of what chat adds: a leading @mention, white space, the full-width ＃ of Chinese input
methods, and `#` inside the text itself (only the first two marks split).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from relay.i18n import Text, text_for

ISSUE_UUID = re.compile(r"issue_[0-9A-Za-z]{8,64}")
MARKS = re.compile(r"[#＃]")
MAX_TEXT = 65535  # Guance's limit for a reply's content


class ReplyParseError(ValueError):
    """The message does not follow the convention: a catalogue key (relay/i18n/) saying what is
    wrong, read in RELAY_LANGUAGE with `exc.say(text)`."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key, values)
        self.key, self.values = key, values

    def say(self, text: Text) -> str:
        return text(self.key, **self.values)

    def __str__(self) -> str:  # for logs
        return self.say(text_for("en"))


class ReplyTooLong(ReplyParseError):
    pass


@dataclass(frozen=True)
class ParsedReply:
    issue_uuid: str
    text: str


def parse_reply(message: str) -> ParsedReply:
    message = message.replace("\u00a0", " ").replace("\u200b", "").strip()
    first = MARKS.search(message)
    if first is None:
        raise ReplyParseError("parse.no_mark")
    prefix = message[: first.start()].strip()
    if prefix and not prefix.startswith(("@", "<at")):
        raise ReplyParseError("parse.prefix")
    rest = message[first.end():]
    second = MARKS.search(rest)
    if second is None:
        raise ReplyParseError("parse.second_mark")
    uuid, text = rest[: second.start()].strip(), rest[second.end():].strip()
    if not ISSUE_UUID.fullmatch(uuid):
        raise ReplyParseError("parse.not_uuid", uuid=repr(uuid[:80]))
    if not text:
        raise ReplyParseError("parse.empty")
    if len(text) > MAX_TEXT:
        raise ReplyTooLong("parse.too_long", length=len(text), max=MAX_TEXT)
    return ParsedReply(uuid, text)
