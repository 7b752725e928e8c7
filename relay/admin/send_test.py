"""`relay send-test NAME`: one clearly marked test card to a destination, through the real sink,
and the platform's answer (HTTP status, code and message) printed, so an admin knows a webhook,
a signing secret or an app chat works before the first alert. Nothing is written to the outbox.
"""

from __future__ import annotations

import socket
import sys

import requests

from relay.config import load_settings
from relay.errors import ConfigError
from relay.http import http_session
from relay.payloads import TestCard
from relay.platforms.base import Sink
from relay.platforms.registry import KINDS, PLATFORMS
from relay.runtime import Runtime


def test_payload(now: float) -> TestCard:
    """A card that cannot be mistaken for an alert."""
    return TestCard(uuid=f"relay-send-test-{int(now)}", level="TEST",
                    title="[relay send-test] test card, not an alert",
                    source="relay send-test", create_at=int(now), channel="relay-send-test",
                    message=f"This test card was sent by `relay send-test` on "
                            f"{socket.gethostname()} to check this destination. There is no "
                            "issue behind it; ignore it.")


def answer_text(resp: requests.Response | None) -> str:
    """The platform's answer as `HTTP 200, code 0: success` (Feishu code/msg, DingTalk and
    WeCom errcode/errmsg)."""
    if resp is None:
        return "no answer"
    try:
        body = resp.json()
    except ValueError:
        body = None
    text = f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        for code, msg in (("code", "msg"), ("errcode", "errmsg"), ("StatusCode", "StatusMessage")):
            if code in body:
                return f"{text}, {code} {body[code]}: {body.get(msg, '')}"
    return f"{text}, {resp.text[:100]!r}" if resp.text else text


def sink_for(rt: Runtime, name: str, session: requests.Session) -> tuple[Sink, str]:
    """The destination's real sink, on a session whose answers we can read."""
    destinations = rt.settings.destination_table()
    if name in destinations:
        dest = destinations[name]
        for platform in PLATFORMS:  # the app clients on this session too
            if platform.setup is not None:
                platform.setup(rt, session)
        return KINDS[dest.kind].sink(rt, dest, session), dest.kind
    known = sorted(destinations)
    raise ConfigError(f"send-test: no destination {name!r} (known: {', '.join(known) or 'none'}; "
                      "RELAY_FEISHU_WEBHOOK_URL is 'default')")


def run_send_test(name: str) -> int:
    settings = load_settings()
    rt = Runtime(settings)
    try:
        session, answers = http_session(), []
        session.hooks["response"].append(lambda resp, *args, **kwargs: answers.append(resp))
        sink, kind = sink_for(rt, name, session)
        result = sink.send(test_payload(rt.clock.now()), rt.clock.now())
        answer = rt.redact(answer_text(answers[-1] if answers else None))
    finally:
        rt.close()
    if result.ok:
        print(f"send-test: {name!r} ({kind}) took the test card: {answer}")
        return 0
    print(f"send-test: {name!r} ({kind}) refused the test card: {answer}; "
          f"{rt.redact(result.error)}", file=sys.stderr)
    return 1
