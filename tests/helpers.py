"""Helpers the tests share: free ports, payloads, what a fake received, JSON refusals."""

from __future__ import annotations

import contextlib
import socket

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.i18n import text_for
from relay.payloads import IssueCard
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
    """Serve a fake peer on 127.0.0.1 for one test (its `url` set), then stop it (and what it
    serves besides, e.g. the fake DingTalk's WebSocket)."""
    server = ServerThread(fake.app)
    fake.url = server.url
    yield fake
    server.stop()
    if callable(stop := getattr(fake, "stop", None)):
        stop()


def outbox(rt) -> list[store.Delivery]:
    """Every outbox row, in the order they were queued."""
    with Session(rt.engine) as session:
        return list(session.scalars(select(store.Delivery).order_by(store.Delivery.id)))


def cards(feishu, hook: str = HOOK) -> list[dict]:
    """What the fake Feishu hook received, in order."""
    return feishu.for_hook(hook)


def card_uuids(feishu, hook: str = HOOK) -> list[str]:
    return [c["issue_uuid"] for c in feishu.for_hook(hook)]


def payload(**kw) -> IssueCard:
    """An issue's card as the poller queues it."""
    return IssueCard(**{"uuid": "issue_abc12345", "title": "Disk full on db-1", "level": "P1",
                        "source": "disk-mon", "message": "/var at 99%",
                        "create_at": 1_767_225_600, "channel": "ops", **kw})


def assert_json_error(resp, status) -> dict:
    """A test-client answer with `status` and a JSON body {"error": "<reason>", …}."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    return body


class SlowPeer:
    """A hostile HTTP peer on 127.0.0.1: it reads each request, sends the first `at_once` bytes
    of `answer`, then one more byte every `every` seconds (every=None: no more bytes: it hangs).
    Each connection ends after `lasts` seconds at most, or at `release()`, so a test stays
    bounded whatever the code under test does."""

    def __init__(self, answer: bytes = b"", at_once: int = 0, every: float | None = None,
                 lasts: float = 8.0) -> None:
        import threading

        self.answer, self.at_once, self.every, self.lasts = answer, at_once, every, lasts
        self.released = threading.Event()
        self.requests = 0  # requests read so far
        self.finished = 0  # answers sent whole
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        import time

        ends = time.monotonic() + self.lasts
        with conn, contextlib.suppress(OSError):
            conn.settimeout(self.lasts)
            conn.recv(65536)
            with self.lock:
                self.requests += 1
            conn.sendall(self.answer[:self.at_once])
            if self.every is None:
                self.released.wait(self.lasts)
                return
            for i in range(self.at_once, len(self.answer)):
                if self.released.wait(self.every) or time.monotonic() > ends:
                    return
                conn.sendall(self.answer[i:i + 1])
            with self.lock:
                self.finished += 1

    def release(self) -> None:
        """End every connection now, its answer unfinished."""
        self.released.set()

    def close(self) -> None:
        self.release()
        self.listener.close()


def carded_issue(rt, guance, clock, title: str, **kw) -> str:
    """Start watching, add one issue, poll it into the outbox and deliver; returns its uuid."""
    from relay.pipeline.deliver import deliver
    from relay.pipeline.poll import poll

    poll(rt)
    clock.advance(30)
    uuid = guance.add_issue(title, **kw)
    clock.advance(30)
    poll(rt)
    deliver(rt)
    return uuid
