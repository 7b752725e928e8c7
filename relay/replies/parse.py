"""Parse the reply convention `#<issueUUID>#<text>` sent by @-mentioning the bot.

Tolerant of what chat adds: a leading @mention, white space, the full-width ＃ of Chinese input
methods, and `#` inside the text itself (only the first two marks split).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

USAGE = "send '@bot #<issueUUID>#<your comment>', e.g. '#issue_3f9a1c2b4d5e6f70#restarted the pod'"
ISSUE_UUID = re.compile(r"issue_[0-9A-Za-z]{8,64}")
MARKS = re.compile(r"[#＃]")
MAX_TEXT = 65535  # Guance's limit for a reply's content


class ReplyParseError(ValueError):
    """The message does not follow the convention; the text says what is wrong."""


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
        raise ReplyParseError("no '#' in the message")
    prefix = message[: first.start()].strip()
    if prefix and not prefix.startswith(("@", "<at")):
        raise ReplyParseError("the message must start with '#' (after the @mention)")
    rest = message[first.end():]
    second = MARKS.search(rest)
    if second is None:
        raise ReplyParseError("missing the '#' between the issue UUID and the text")
    uuid, text = rest[: second.start()].strip(), rest[second.end():].strip()
    if not ISSUE_UUID.fullmatch(uuid):
        raise ReplyParseError(f"{uuid[:80]!r} is not an issue UUID (issue_ followed by letters "
                              "and digits)")
    if not text:
        raise ReplyParseError("the comment text is empty")
    if len(text) > MAX_TEXT:
        raise ReplyTooLong(f"the comment is {len(text)} characters; Guance takes at most {MAX_TEXT}")
    return ParsedReply(uuid, text)
