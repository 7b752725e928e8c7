"""The shapes of RELAY_MENTIONS and RELAY_LEVEL_MENTIONS, checked when settings load: who a
card may @-mention on each platform (relay/platforms/mentions.py renders them)."""

from __future__ import annotations

from typing import Any

PLATFORM_KEYS = ("feishu", "dingtalk", "wecom")
PERSON_KEYS = ("name",) + PLATFORM_KEYS


def check_people(value: dict[str, Any]) -> dict[str, dict[str, str]]:
    """RELAY_MENTIONS: {"<email or acnt_ UUID>": {"name": …, "feishu": …, "dingtalk": …,
    "wecom": …}}; a ValueError names the entry."""
    for person, ids in value.items():
        if not isinstance(ids, dict):
            raise ValueError(f"person {person!r} must map to an object such as "
                             '{"feishu": "ou_…", "dingtalk": "138…", "wecom": "userid"}')
        unknown = sorted(set(ids) - set(PERSON_KEYS))
        if unknown:
            raise ValueError(f"person {person!r}: unknown key(s) {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(PERSON_KEYS)})")
        for key, ident in ids.items():
            if not isinstance(ident, str) or not ident.strip():
                raise ValueError(f"person {person!r}: {key!r} must be a non-empty string")
    return value


def check_levels(value: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """RELAY_LEVEL_MENTIONS: {"<channel or *>": {"P0": ["<person>", …], "P1,P2": […]}}."""
    for channel, levels in value.items():
        if not isinstance(levels, dict):
            raise ValueError(f"channel {channel!r} must map levels to people, e.g. "
                             '{"P0": ["oncall@example.com"]}')
        for level, people in levels.items():
            if isinstance(people, str):
                levels[level] = people = [people]
            if not isinstance(people, list) or not all(isinstance(p, str) for p in people):
                raise ValueError(f"channel {channel!r} level {level!r}: want a list of people")
    return value
