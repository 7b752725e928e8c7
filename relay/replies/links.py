"""Signed action links: Claim / Resolve on cards of platforms that cannot call back (Feishu
custom bots and flows, DingTalk and WeCom robots).

A link is a capability made by relay: HMAC-SHA256 keyed with RELAY_ACTION_LINK_SECRET over the
issue, the action, the platform it was sent to and its expiry, so it is useless for another issue
or action, or after it expires. Its expiry counts from the issue's creation, so a card sent again
carries the same links. Opening one (GET) only shows a confirmation page (relay/web/actions.py).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from relay.payloads import Card
from relay.replies.parse import ISSUE_UUID
from relay.web.untrusted import whole_number

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.i18n import Text

PATH = "/actions/<issue>/<action>"
LINKED = ("claim", "resolve")  # the actions a card links to (close and reopen: by command)


class LinkSigner:
    def __init__(self, public_url: str, secret: str, hours: int) -> None:
        self.public_url, self._key, self.hours = public_url.rstrip("/"), secret.encode(), hours

    def signature(self, issue: str, action: str, via: str, expires: int) -> str:
        message = f"relay-action-link\n{issue}\n{action}\n{via}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def url(self, issue: str, action: str, via: str, created_at: int) -> str:
        expires = int(created_at) + self.hours * 3600
        query = urlencode({"via": via, "e": expires,
                           "s": self.signature(issue, action, via, expires)})
        return f"{self.public_url}/actions/{quote(issue)}/{action}?{query}"

    def links(self, payload: Card, via: str, text: Text) -> list[tuple[str, str, str]]:
        """(action, button label in `text`'s language, URL) for each linked action of the
        card's issue; none for a card of no one issue (a storm digest)."""
        issue = payload.issue_uuid() or ""
        if not ISSUE_UUID.fullmatch(issue):
            return []
        return [(action, text(f"action.label_{action}"),
                 self.url(issue, action, via, payload.create_at)) for action in LINKED]

    def check(self, issue: str, action: str, via: str, expires: str, given: str,
              now: float) -> str:
        """"" when the link is good; else "bad" or "expired" (a bad one is never "expired")."""
        until = whole_number(expires)
        if until is None or len(given) != 64:
            return "bad"
        expected = self.signature(issue, action, via, until)
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            return "bad"
        return "expired" if now > until else ""


def link_signer(settings: Settings) -> LinkSigner | None:
    """The signer when RELAY_PUBLIC_URL and RELAY_ACTION_LINK_SECRET are both set; else None
    (cards then carry no links)."""
    secret = settings.action_link_secret
    if not settings.public_url or secret is None or not secret.get_secret_value().strip():
        return None
    return LinkSigner(settings.public_url, secret.get_secret_value(), settings.action_link_hours)


def links_markdown(links: list[tuple[str, str, str]], separator: str = " · ") -> str:
    """The links as one markdown line (DingTalk, WeCom)."""
    return separator.join(f"[{label}]({url})" for _, label, url in links)
