"""`POST /feishu/events`: the Feishu app bot's event callback (HTTP mode, RELAY_FEISHU_EVENTS=http;
in `long` mode the route answers 404 and events come over relay/platforms/feishu/longconn.py).

Checks, in order: the body decrypts (when RELAY_FEISHU_ENCRYPT_KEY is set: SHA-256 of the key,
AES-256-CBC with the IV in the first 16 bytes, PKCS#7), the request signature and its timestamp,
the verification token (constant time). The timestamp may be up to 8 hours old: Feishu redelivers
an unanswered event after 15 s, 5 min, 1 h and 6 h, so a retry after an outage still counts; a
replay within those hours is caught by its event_id, which the store keeps longer than that
(relay/store/events.py), and an older one by the timestamp. A `url_verification` challenge is
answered at once, also a plain one while an Encrypt Key is set (as Feishu's SDK does). An event
is stored under its event_id before Feishu hears 200 (a redelivered event_id is acknowledged and
dropped), and the worker (relay/platforms/feishu/worker.py) does the slow part — Guance, the
bot's answer — after the answer, so Feishu's 3-second deadline holds however slow Guance is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import Blueprint, jsonify, request

from relay.platforms.feishu.buttons import CARD_ACTION_EVENT, answer_click, read_click
from relay.platforms.feishu.state import feishu_state
from relay.platforms.feishu.worker import MESSAGE_EVENT, allowed, ensure_worker
from relay.store import events as event_store
from relay.store.base import lock_deadline
from relay.web.errors import error
from relay.web.untrusted import loads, whole_number

if TYPE_CHECKING:
    from relay.runtime import Runtime

log = logging.getLogger("relay.feishu_events")

# Feishu's last redelivery comes about 7.1 h after the first push (15 s + 5 min + 1 h + 6 h), and
# whether a retry carries a fresh timestamp is not documented: accept 8 h back, 5 minutes ahead
MAX_AGE_SECONDS = 8 * 3600
MAX_AHEAD_SECONDS = 300
assert event_store.EVENT_MEMORY_SECONDS > MAX_AGE_SECONDS + MAX_AHEAD_SECONDS  # replays: event_id
# one answer for every way decryption can fail (padding, UTF-8, JSON), so the answers cannot be
# used to probe the cipher (a padding oracle) before the signature is checked
CANNOT_DECRYPT = "cannot decrypt 'encrypt' (is RELAY_FEISHU_ENCRYPT_KEY the app's Encrypt Key?)"
PATH = "/feishu/events"


class EventRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decrypt(encrypt_key: str, encrypted: str) -> str:
    """Feishu's event encryption, undone: base64 → IV (16 bytes) + AES-256-CBC → PKCS#7 → UTF-8."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    try:
        data = base64.b64decode(encrypted, validate=True)
    except ValueError:
        raise EventRejected(400, "'encrypt' is not base64") from None
    if len(data) < 32 or len(data) % 16:
        raise EventRejected(400, "'encrypt' is not an AES-CBC message (length)")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except ValueError:  # bad padding or not UTF-8: a wrong key, most likely
        raise EventRejected(400, CANNOT_DECRYPT) from None


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """X-Lark-Signature: hex SHA-256 of timestamp + nonce + encrypt key, then the raw body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def check_signature(encrypt_key: str, body: bytes, now: float) -> None:
    ts = request.headers.get("X-Lark-Request-Timestamp", "")
    nonce = request.headers.get("X-Lark-Request-Nonce", "")
    given = request.headers.get("X-Lark-Signature", "")
    if not ts or not given:
        raise EventRejected(401, "missing X-Lark-Request-Timestamp / X-Lark-Signature")
    seconds = whole_number(ts)
    if seconds is None:
        raise EventRejected(400, "X-Lark-Request-Timestamp is not a Unix time in seconds")
    if not now - MAX_AGE_SECONDS <= seconds <= now + MAX_AHEAD_SECONDS:
        raise EventRejected(401, "request timestamp is more than 8 hours old or 5 minutes ahead "
                                 "(a replay, or a clock far off)")
    if not hmac.compare_digest(signature(ts, nonce, encrypt_key, body).encode(),
                               given.strip().lower().encode()):
        raise EventRejected(401, "wrong X-Lark-Signature")


def open_body(rt: Runtime, raw: bytes) -> tuple[dict[str, Any], bool]:
    """The event as JSON (decrypted), and whether it came encrypted."""
    try:
        outer = loads(raw)
    except ValueError:
        raise EventRejected(400, "body is not JSON") from None
    if not isinstance(outer, dict):
        raise EventRejected(400, "body is not a JSON object")
    key = rt.settings.feishu_encrypt_key
    if "encrypt" not in outer:
        if key is not None and outer.get("type") != "url_verification":  # the SDK answers it
            raise EventRejected(400, "expected an encrypted body ({\"encrypt\": …}): the app has "
                                "an Encrypt Key (RELAY_FEISHU_ENCRYPT_KEY)")
        return outer, False
    if key is None:
        raise EventRejected(400, "encrypted body, but RELAY_FEISHU_ENCRYPT_KEY is not set")
    if not isinstance(outer["encrypt"], str):
        raise EventRejected(400, "'encrypt' is not a string")
    try:
        inner = loads(decrypt(key.get_secret_value(), outer["encrypt"]))
    except ValueError:
        raise EventRejected(400, CANNOT_DECRYPT) from None
    if not isinstance(inner, dict):
        raise EventRejected(400, CANNOT_DECRYPT)
    return inner, True


def check_token(rt: Runtime, event: dict[str, Any]) -> None:
    header = event.get("header") if isinstance(event.get("header"), dict) else {}
    given = header.get("token", event.get("token"))  # schema 2.0: header.token; v1: token
    expected = rt.settings.feishu_verification_token.get_secret_value()  # type: ignore[union-attr]
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise EventRejected(401, "wrong verification token (RELAY_FEISHU_VERIFICATION_TOKEN)")


def feishu_events_blueprint(rt: Runtime) -> Blueprint:
    """The endpoint, and the worker that acts on the stored events (started here, once)."""
    bp = Blueprint("feishu_events", __name__)
    http_mode = rt.settings.feishu_events == "http"
    if http_mode and rt.settings.feishu_verification_token is not None:
        ensure_worker(rt)

    @bp.post(PATH)
    def feishu_events():
        if not http_mode:
            return error(404, "the Feishu app bot's events come over its long connection "
                         "(RELAY_FEISHU_EVENTS=long), not to /feishu/events")
        if rt.settings.feishu_verification_token is None:
            return error(404, "the Feishu app bot is not configured "
                         "(RELAY_FEISHU_VERIFICATION_TOKEN)")
        raw = request.get_data(cache=False)
        try:
            event, encrypted = open_body(rt, raw)
            if event.get("type") == "url_verification":
                check_token(rt, event)  # Feishu signs no challenge (its SDK checks none)
                return jsonify({"challenge": str(event.get("challenge", ""))})
            if encrypted:
                check_signature(rt.settings.feishu_encrypt_key.get_secret_value(),  # type: ignore
                                raw, rt.clock.now())
            check_token(rt, event)
        except EventRejected as exc:
            log.warning("/feishu/events: rejected: %s", exc)
            return error(exc.status, str(exc))
        with lock_deadline():  # Feishu waits 3 s: a locked database is "busy, retry" in time
            return accept(rt, event)

    return bp


def accept(rt: Runtime, event: dict[str, Any]):
    status, body = take(rt, event, "/feishu/events")
    return jsonify(body) if status == 200 else error(status, body["error"])


def take(rt: Runtime, event: dict[str, Any], via: str) -> tuple[int, dict[str, Any]]:
    """Store the event (once per event_id) for the worker; (status, the answer) at once. The one
    way in for both subscription modes: /feishu/events and the long connection
    (relay/platforms/feishu/longconn.py), so every feature works the same over either."""
    header = event.get("header") if isinstance(event.get("header"), dict) else {}
    event_id = header.get("event_id") or event.get("uuid")
    event_type = header.get("event_type") or (event.get("event") or {}).get("type") or ""
    if not isinstance(event_id, str) or not event_id or len(event_id) > 128:
        return 400, {"error": "no header.event_id in the event"}
    if event_type == CARD_ACTION_EVENT:  # a button on an app-bot card: answered with a toast
        stored = dict(event, header={k: v for k, v in header.items() if k != "token"})
        click = read_click(stored)
        answer = answer_click(rt, event_id, stored, click,
                              click is not None and allowed(rt, click))  # type: ignore
        _wake(rt)  # the worker acts on a click it stored (nothing to do otherwise)
        return 200, answer
    if event_type != MESSAGE_EVENT:
        log.info("%s: %s %s is not a message event; nothing to do", via, event_type, event_id)
        return 200, {"msg": "success"}
    stored = dict(event, header={k: v for k, v in header.items() if k != "token"})
    stored.pop("token", None)  # the verification token is a secret: not kept in the database
    if event_store.accept_event(rt.engine, event_id, str(event_type)[:128], stored,
                               int(rt.clock.now())):
        _wake(rt)
    else:
        log.info("%s: %s delivered again; already accepted", via, event_id)
    return 200, {"msg": "success"}


def _wake(rt: Runtime) -> None:
    if (worker := feishu_state(rt).worker) is not None:
        worker.wake()
