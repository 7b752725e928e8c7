"""Helpers the tests share: free ports, payloads, what a fake received, JSON refusals."""

from __future__ import annotations

import socket

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.i18n import text_for
from relay.sandbox.server import ServerThread
from relay.store import outbox as store

REPLY_TOKEN = "test-reply-token-0123456789"
HOOK = "hook-default"  # the fake Feishu hook of RELAY_FEISHU_WEBHOOK_URL in the fixtures
EN, ZH = text_for("en"), text_for("zh-CN")  # the catalogues, for sinks built without a Runtime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served(fake):
    """Serve a fake peer on 127.0.0.1 for one test (its `url` set), then stop it."""
    server = ServerThread(fake.app)
    fake.url = server.url
    yield fake
    server.stop()


def outbox(rt) -> list[store.Delivery]:
    """Every outbox row, in the order they were queued."""
    with Session(rt.engine) as session:
        return list(session.scalars(select(store.Delivery).order_by(store.Delivery.id)))


def cards(feishu, hook: str = HOOK) -> list[dict]:
    """What the fake Feishu hook received, in order."""
    return feishu.for_hook(hook)


def card_uuids(feishu, hook: str = HOOK) -> list[str]:
    return [c["issue_uuid"] for c in feishu.for_hook(hook)]


def payload(**kw):
    """An outbox payload as the poller stores it."""
    return {"uuid": "issue_abc12345", "title": "Disk full on db-1", "level": "P1",
            "source": "disk-mon", "message": "/var at 99%", "create_at": 1_767_225_600,
            "channel": "ops", **kw}


def assert_json_error(resp, status) -> dict:
    """A test-client answer with `status` and a JSON body {"error": "<reason>", …}."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    return body
