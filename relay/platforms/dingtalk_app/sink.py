"""A group of the DingTalk app robot as a destination: the alert as an interactive card, its
state changes updated into the card, and a text line in the group when a change is announced or
DingTalk refuses the update."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from relay.i18n import Text
from relay.payloads import Card, FollowUp, Reminder, StatusChange
from relay.platforms.base import SendResult
from relay.platforms.dingtalk_app.card import card_params, inert, out_track_id, status_params
from relay.platforms.dingtalk_app.openapi import DingTalkApp
from relay.platforms.status_texts import status_line
from relay.platforms.mentions import NOBODY, Mentions


class AppGroupSink:
    # DingTalk: an enterprise robot sends at most 20 messages a minute into one group (as the
    # custom robots; the app robot's own group limit is not in the sources read: UNCONFIRMED)
    limits = [(20, 61.0)]

    def __init__(self, app: DingTalkApp, conversation_id: str, template_id: str, tz: ZoneInfo,
                 console_url: str, text: Text, mentions: Mentions = NOBODY) -> None:
        self.app, self.conversation_id, self.template_id = app, conversation_id, template_id
        self.tz, self.console_url, self.text, self.mentions = tz, console_url, text, mentions

    def send(self, payload: Card, now: float) -> SendResult:
        if isinstance(payload, FollowUp):
            return self.follow_up(payload)
        reminder = str(payload.reminder) if isinstance(payload, Reminder) else ""
        track = out_track_id(payload.uuid, self.conversation_id, reminder)
        return self.app.send_card(self.conversation_id, self.template_id, track,
                                  card_params(payload, self.tz, self.console_url, self.text))

    def follow_up(self, payload: FollowUp) -> SendResult:
        """A state change: the card's status variables replaced, and the status line in the
        group when the change is announced, or when DingTalk refuses the update for good (a
        storm digest's follow-up is a line)."""
        line = status_line(payload, self.text, inert)
        track = payload.message_id
        if not track:
            return _without_id(self.app.send_text(self.conversation_id, line))
        change = isinstance(payload, StatusChange)
        announce = payload.announce if change else True
        if change:
            result, refused = self.app.update_card(track, status_params(
                payload, self.mentions.managers(payload), self.tz, self.text))
            if not result.ok and not refused:
                return result  # worth a retry (QPS limit, 5xx, network)
            announce = announce or refused
        if not announce:
            return SendResult(True)
        return _without_id(self.app.send_text(self.conversation_id, line))


def _without_id(result: SendResult) -> SendResult:
    """A follow-up's result carries no message id: the card stays the issue's message."""
    return SendResult(result.ok, result.error, result.retry_after)
