"""Who a card @-mentions: the issue's managers and the people a channel names for its levels,
mapped to each platform's chat identity by RELAY_MENTIONS. A person without an identity on a
platform is shown there as plain text (never dropped). Platforms render the mention themselves
(Feishu `<at>`, DingTalk `at.atMobiles`/`atUserIds`, WeCom `<@userid>`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from relay.payloads import Card


@dataclass(frozen=True)
class Person:
    name: str  # shown as text, and beside a mention
    ids: dict[str, str] = field(default_factory=dict)  # platform → chat identity

    def on(self, platform: str) -> str | None:
        return self.ids.get(platform) or None


class Mentions:
    def __init__(self, people: dict[str, dict[str, str]],
                 levels: dict[str, dict[str, list[str]]]) -> None:
        self._people = {k.strip().lower(): v for k, v in people.items()}
        self._levels = {channel: {lvl.strip(): names for key, names in by_level.items()
                                  for lvl in key.split(",")}
                        for channel, by_level in levels.items()}

    def person(self, key: str, name: str = "", email: str = "") -> Person:
        ids = self._people.get(key.strip().lower()) or self._people.get(email.strip().lower())
        ids = dict(ids or {})
        shown = ids.pop("name", "") or name or email or key
        return Person(shown, ids)

    def managers(self, payload: Card) -> list[Person]:
        """The issue's managers (account UUIDs, or Guance's managerInfos objects)."""
        found: list[Person] = []
        for manager in payload.managers:
            if isinstance(manager, dict):
                found.append(self.person(str(manager.get("uuid") or ""),
                                         str(manager.get("name") or ""),
                                         str(manager.get("email") or "")))
            else:
                found.append(self.person(str(manager)))
        return found

    def people(self, payload: Card) -> list[Person]:
        """The issue's managers, then the people of its channel (and of "*") for its level."""
        found = self.managers(payload)
        for channel in (payload.channel, "*"):
            for key in self._levels.get(channel, {}).get(payload.level, []):
                found.append(self.person(key))
        unique: list[Person] = []
        for person in found:
            if person not in unique:
                unique.append(person)
        return unique


NOBODY = Mentions({}, {})
