"""The DingTalk app robot's outbound side: the app's access token, group messages, interactive
cards (created, delivered into a group, updated in place).

An enterprise internal app calls DingTalk's OpenAPI (api.dingtalk.com) with an access token from
`POST /v1.0/oauth2/accessToken` {appKey, appSecret} → {accessToken, expireIn (s)}, sent in the
`x-acs-dingtalk-access-token` header. The token is cached and renewed five minutes before it
expires (as DingTalk's Stream SDK does), under a lock, and dropped and fetched again once when a
call is refused with HTTP 401. DingTalk answers a refusal with HTTP 4xx and a JSON body
{code, message, requestid}; those words are what the error says. docs/platforms/dingtalk-app.md
lists what of this is confirmed and where.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from relay import http
from relay.clock import Clock
from relay.platforms.base import CachedToken, SendResult

TOKEN_PATH = "/v1.0/oauth2/accessToken"
GROUP_MESSAGE_PATH = "/v1.0/robot/groupMessages/send"
CARD_CREATE_AND_DELIVER_PATH = "/v1.0/card/instances/createAndDeliver"
CARD_UPDATE_PATH = "/v1.0/card/instances"
TOKEN_HEADER = "x-acs-dingtalk-access-token"
RENEW_MARGIN_SECONDS = 300  # renew when less is left (the official Stream SDK keeps 5 min)
LIMIT_WAIT_SECONDS = 2.0  # DingTalk's QPS refusals name no wait; a second or two clears them
# msgParam is at most 15,000 bytes: a text of this many characters fits even at 3 bytes each
# with its JSON around it
MAX_TEXT_CHARS = 4_900


class DingTalkAppError(Exception):
    """DingTalk handed out no access token (wrong AppKey/AppSecret, or unreachable)."""


def open_space(conversation_id: str) -> str:
    """The card's space for a group: DingTalk's `dtv1.card//IM_GROUP.<openConversationId>`."""
    return f"dtv1.card//IM_GROUP.{conversation_id}"


def _problem(answer: dict[str, Any], resp: requests.Response) -> str:
    code, message = answer.get("code"), answer.get("message")
    if code or message:
        return f"DingTalk HTTP {resp.status_code} {code or ''}: {message or ''}".strip()
    return f"DingTalk HTTP {resp.status_code} {resp.text[:200]}".strip()


def _limited(resp: requests.Response, answer: dict[str, Any]) -> bool:
    """A QPS refusal: HTTP 429, or DingTalk's `…QpsLimit…` / `Throttling…` codes."""
    code = str(answer.get("code") or "")
    return resp.status_code == 429 or "QpsLimit" in code or code.startswith("Throttling")


class DingTalkApp:
    """One enterprise internal app and its robot (robotCode)."""

    def __init__(self, base_url: str, app_key: str, app_secret: str, robot_code: str,
                 clock: Clock | None = None, session: requests.Session | None = None,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_key, self._secret, self.robot_code = app_key, app_secret, robot_code
        self.clock = clock or Clock()
        self.session = session or http.http_session()
        self.timeout = timeout
        self._token = CachedToken(self._renew, self.clock, RENEW_MARGIN_SECONDS)

    # -- the token ---------------------------------------------------------------------------
    def token(self) -> str:
        return self._token.get()

    def _renew(self) -> tuple[str, float]:
        try:
            resp = http.call(self.session, "POST", self.base_url + TOKEN_PATH, timeout=self.timeout,
                             json={"appKey": self.app_key, "appSecret": self._secret})
            answer = resp.json()
        except http.CallFailed as exc:
            raise DingTalkAppError(f"accessToken: could not reach DingTalk: {exc}") from None
        except ValueError:
            raise DingTalkAppError(f"accessToken: HTTP {resp.status_code}, not JSON") from None
        answer = answer if isinstance(answer, dict) else {}
        if resp.status_code != 200 or not answer.get("accessToken"):
            raise DingTalkAppError(f"accessToken: {_problem(answer, resp)} (check "
                                   "RELAY_DINGTALK_APP_KEY / RELAY_DINGTALK_APP_SECRET)")
        return str(answer["accessToken"]), float(answer.get("expireIn") or 7200)

    # -- calls -------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: dict[str, Any]
             ) -> tuple[SendResult, dict[str, Any]]:
        """One OpenAPI call: (how it went, the answer's JSON body). A 401 renews the token once;
        a QPS refusal carries a wait; other 4xx are refusals, 5xx and network errors failures."""
        for attempt in (1, 2):
            try:
                token = self.token()
            except DingTalkAppError as exc:
                return SendResult(False, str(exc)), {}
            try:
                resp = http.call(
                    self.session, method, self.base_url + path, timeout=self.timeout,
                    data=json.dumps(body, ensure_ascii=False).encode(),
                    headers={TOKEN_HEADER: token,
                             "Content-Type": "application/json; charset=utf-8"})
            except http.CallFailed as exc:
                return SendResult(False, f"could not reach DingTalk: {exc}"), {}
            try:
                answer = resp.json()
            except ValueError:
                answer = None
            answer = answer if isinstance(answer, dict) else {}
            if resp.status_code == 401 and attempt == 1:
                self._token.forget(token)
                continue
            if 200 <= resp.status_code < 300:
                return SendResult(True), answer
            if _limited(resp, answer):
                return SendResult(False, _problem(answer, resp)[:300], LIMIT_WAIT_SECONDS), answer
            # a refusal (4xx) is marked in the answer, for update_card's fallback
            return SendResult(False, _problem(answer, resp)[:300]), dict(
                answer, refused=400 <= resp.status_code < 500)
        return SendResult(False, "DingTalk refused a fresh access token (HTTP 401)"), {}

    def send_text(self, conversation_id: str, text: str) -> SendResult:
        """A text message from the robot into a group (`sampleText`), cut to fit msgParam."""
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS - 1] + "…"
        return self.call("POST", GROUP_MESSAGE_PATH, {
            "robotCode": self.robot_code, "openConversationId": conversation_id,
            "msgKey": "sampleText", "msgParam": json.dumps({"content": text},
                                                          ensure_ascii=False)})[0]

    def send_card(self, conversation_id: str, template_id: str, out_track_id: str,
                  params: dict[str, str]) -> SendResult:
        """An interactive card created and delivered into a group in one call; its button
        clicks come back over Stream (callbackType STREAM). The result's message_id is the
        card's outTrackId, the key of later updates."""
        result, answer = self.call("POST", CARD_CREATE_AND_DELIVER_PATH, {
            "cardTemplateId": template_id, "outTrackId": out_track_id,
            "callbackType": "STREAM", "cardData": {"cardParamMap": params},
            "openSpaceId": open_space(conversation_id),
            "imGroupOpenSpaceModel": {"supportForward": True},
            "imGroupOpenDeliverModel": {"robotCode": self.robot_code}})
        if not result.ok:
            return result
        refused = _undelivered(answer)
        if refused is not None:
            return SendResult(False, f"DingTalk did not deliver the card: {refused}"[:300])
        return SendResult(True, message_id=out_track_id)

    def update_card(self, out_track_id: str, params: dict[str, str]) -> tuple[SendResult, bool]:
        """The card's variables replaced in place (only the keys given): (how it went, whether
        DingTalk refused it for good — any 4xx that is not a QPS limit)."""
        result, answer = self.call("PUT", CARD_UPDATE_PATH, {
            "outTrackId": out_track_id, "cardData": {"cardParamMap": params},
            "cardUpdateOptions": {"updateCardDataByKey": True}})
        return result, answer.get("refused") is True


def _undelivered(answer: dict[str, Any]) -> str | None:
    """Why a delivery answered with HTTP 200 reached no space, or None when it did: the answer
    is {success, result: {deliverResults: [{spaceId, success, errorMsg}]}} (a list of spaces)."""
    result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
    spaces = result.get("deliverResults")
    if answer.get("success") is False:
        return str(answer.get("message") or "success: false")
    if isinstance(spaces, list):
        for space in spaces:
            if isinstance(space, dict) and space.get("success") is False:
                return str(space.get("errorMsg") or "success: false")
    return None
