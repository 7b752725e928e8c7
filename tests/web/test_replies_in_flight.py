"""Replies waiting on a Guance that does not answer hold at most RELAY_REPLIES_IN_FLIGHT web
threads: one more is answered 503 at once, and /healthz still answers (real sockets)."""

from __future__ import annotations

import threading

import pytest
import requests

from relay.web.app import create_app
from relay.web.server import WebServer
from tests.helpers import REPLY_TOKEN, SlowPeer

AUTH = {"Authorization": f"Bearer {REPLY_TOKEN}"}
ISSUE = "issue_3f9a1c2b4d5e6f708192a3b4c5d6e7f8"
IN_FLIGHT = 2


@pytest.fixture
def hanging_guance():
    peer = SlowPeer(every=None, lasts=20.0)  # accepts, reads the request, never answers
    yield peer
    peer.close()


def reply(server: WebServer, text: str) -> requests.Response:
    return requests.post(f"{server.url}/feishu/reply", headers=AUTH, timeout=20,
                         json={"content": f"#{ISSUE}#{text}"})


def wait_for(condition, seconds: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("condition not met in time")


def test_replies_to_a_hanging_guance_leave_threads_for_health(make_runtime, hanging_guance):
    rt = make_runtime(guance_base_url=hanging_guance.url, guance_timeout=15,
                      replies_in_flight=IN_FLIGHT)
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    answers: dict[str, requests.Response] = {}

    def send(name: str) -> None:
        answers[name] = reply(server, name)

    waiting = [threading.Thread(target=send, args=(f"waiting {n}",)) for n in range(IN_FLIGHT)]
    try:
        for thread in waiting:
            thread.start()
        wait_for(lambda: hanging_guance.requests == IN_FLIGHT)  # both are with Guance now
        # more than the server has threads left (2 + 4 reserved): each is refused at once
        more = [threading.Thread(target=send, args=(f"more {n}",)) for n in range(8)]
        for thread in more:
            thread.start()
        for thread in more:
            thread.join(timeout=20)
        health = requests.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code in (200, 503) and "status" in health.json()
        assert not any(f"waiting {n}" in answers for n in range(IN_FLIGHT))  # still waiting
        assert hanging_guance.requests == IN_FLIGHT  # the refused ones never reached Guance
        for n in range(8):
            refused = answers[f"more {n}"]
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"].startswith("2 replies are already waiting on Guance")
            assert int(refused.headers["Retry-After"]) == 15
        hanging_guance.release()  # Guance hangs up: the waiting replies end, not posted
        for thread in waiting:
            thread.join(timeout=20)
        assert [answers[f"waiting {n}"].status_code for n in range(IN_FLIGHT)] == [502] * 2
        again = reply(server, "again")  # their places are free again: this one reaches Guance
        assert again.status_code == 502 and hanging_guance.requests == IN_FLIGHT + 1
    finally:
        hanging_guance.release()
        server.stop()
