"""The server under hostile clients, over real sockets on 127.0.0.1: a body over the app's limit
is refused before it is read."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from relay.web.app import MAX_BODY, create_app
from relay.web.server import WebServer
from tests.appbot import VTOKEN
from tests.helpers import REPLY_TOKEN

AUTH = {"Authorization": f"Bearer {REPLY_TOKEN}"}


@pytest.fixture
def server(app_rt):
    rt = app_rt(feishu_encrypt_key=None)
    web = WebServer(create_app(rt), "127.0.0.1", 0).start()
    yield web
    web.stop()


def connect(server: WebServer) -> socket.socket:
    sock = socket.create_connection((server.server.effective_host, server.server.effective_port),
                                    timeout=10)
    sock.settimeout(10)
    return sock


def answer(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """Read one whole answer (the server closes the connection after it): status, head, body."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def test_a_body_announced_over_the_limit_is_refused_before_it_is_sent(server):
    sock = connect(server)
    with sock:
        sock.sendall(b"POST /feishu/reply HTTP/1.1\r\nHost: relay\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 300000000\r\n\r\n")
        # not one byte of the 300 MB sent: the answer comes anyway (before the fix waitress
        # waited for the body, to spool it to a temporary file, and this timed out)
        status, head, body = answer(sock)
    assert status == 413
    assert b"content-type: application/json" in head.lower()
    assert "larger than" in json.loads(body)["error"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(server):
    sock = connect(server)
    with sock:
        sock.sendall(b"POST /feishu/reply HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked"
                     b"\r\n\r\n")
        # a 1 MB chunk announced; the body (framing counted) one byte over the limit when this
        # stops sending, so the server has read all there is before it answers and closes
        start = b"%x\r\n" % (4 * MAX_BODY)
        sock.sendall(start + b"x" * (MAX_BODY + 1 - len(start)))
        # before the fix waitress waited for the rest (up to 1 GB) and this timed out
        status, head, body = answer(sock)
    assert status == 413 and "larger than" in json.loads(body)["error"]


def test_a_body_at_the_limit_still_reaches_the_app(server):
    resp = requests.post(f"{server.url}/feishu/reply", headers=AUTH, timeout=5,
                         data=json.dumps({"content": "x"}).ljust(MAX_BODY))
    assert resp.status_code == 400  # read and judged by the app (not a JSON object it knows)
