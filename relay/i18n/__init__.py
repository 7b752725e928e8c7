"""Every text relay writes for people (cards, digests, bot answers, the delivery log page), one
catalogue per language: `en.py` and `zh_CN.py` hold the same keys with the same `{placeholders}`
(a test checks), so a sink or route names a key and never holds a sentence of its own.

RELAY_LANGUAGE picks the catalogue once, at start (`Runtime.text`). Machine-facing parts (JSON
keys, flow parameter names, the `#uuid#text` syntax, log lines, metrics) are not in here.
"""

from __future__ import annotations

import string
from typing import Any

from relay.i18n import en, zh_CN

CATALOGUES: dict[str, dict[str, str]] = {"zh-CN": zh_CN.MESSAGES, "en": en.MESSAGES}
LANGUAGES = tuple(CATALOGUES)  # the values RELAY_LANGUAGE takes; the first is the default
UNKNOWN_LEVEL = "Unknown"  # how relay stores Guance's system_level_3 (shown as level.unknown)


def placeholders(message: str) -> set[str]:
    """The `{names}` a message expects."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


class Text:
    """One language's catalogue: `text("card.level")`, `text("digest.more", count=3)`."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.messages = CATALOGUES[language]

    def __call__(self, key: str, **values: Any) -> str:
        return self.messages[key].format(**values)

    def platform(self, name: str) -> str:
        """A chat platform's name as its users say it in this language (飞书, 钉钉, 企业微信);
        a name the catalogue does not know stays as it is."""
        return self.messages.get(f"platform.{name.lower()}", name)

    def level(self, level: str) -> str:
        """A level as Guance shows it in this language: P0, P1, P2, a custom level's own name,
        and 未知 / Unknown for the default level with no rank."""
        return self("level.unknown") if level in ("", UNKNOWN_LEVEL) else level


def text_for(language: str) -> Text:
    return Text(language)
