"""relay.http.call, the one way relay calls out, over real sockets on 127.0.0.1: kept-alive
connections, the session's headers, refusals' headers, TLS checked against the CA bundle, no
unbounded answer, no redirect followed; the whole-call deadline (with and without a proxy); each
failure in words a person understands; and the guard on URLs from outside."""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask, jsonify, request

from relay import http
from relay.web.server import WebServer
from tests.helpers import SlowPeer, free_port

JSON = {"Content-Type": "application/json; charset=utf-8"}
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY",
                   "all_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
TOKEN = "access_token=SECRETtoken0123456789"


@pytest.fixture
def session(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return http.http_session()


def post(session, url: str, timeout: float = 5, **kwargs):
    return http.call(session, "POST", url, timeout=timeout, data=b"{}", headers=JSON, **kwargs)


def failure(session, url: str, timeout: float = 5, **kwargs) -> http.CallFailed:
    with pytest.raises(http.CallFailed) as err:
        post(session, url, timeout, **kwargs)
    assert "SECRETtoken" not in str(err.value)  # never the URL's token
    return err.value


@pytest.fixture
def hook():
    """A webhook under waitress (which keeps connections alive, as Feishu does) recording what
    it was sent and from which client port."""
    app, seen = Flask("hook"), []

    @app.post("/hook")
    def receive():
        seen.append({"port": request.environ["REMOTE_PORT"], "headers": dict(request.headers),
                     "body": request.get_json(), "protocol": request.environ["SERVER_PROTOCOL"]})
        return jsonify({"code": 0, "msg": "success"})

    @app.post("/refuse")
    def refuse():
        return jsonify({"code": 11232, "msg": "frequency limited"}), 429, {"Retry-After": "7"}

    @app.post("/huge")
    def huge():
        return b"x" * (http.MAX_ANSWER_BYTES + 1)

    @app.post("/moved")
    def moved():
        seen.append({"moved": True})
        return "", 302, {"Location": "/hook"}

    server = WebServer(app, "127.0.0.1", 0).start()
    yield server.url, seen
    server.stop()


# -- what goes out and what is read --------------------------------------------------------------

def test_calls_go_over_one_kept_alive_connection_with_the_sessions_headers(session, hook):
    url, seen = hook
    for n in range(3):
        answer = http.call(session, "POST", f"{url}/hook", timeout=5, data=b'{"n": %d}' % n,
                           headers=JSON)
        assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "success"}
    assert [s["body"] for s in seen] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len({s["port"] for s in seen}) == 1  # one connection for the three
    assert {s["protocol"] for s in seen} == {"HTTP/1.1"}
    headers = seen[0]["headers"]
    assert headers["Content-Type"] == JSON["Content-Type"]
    assert headers["User-Agent"] == session.headers["User-Agent"]


def test_a_refusals_status_and_retry_after_are_read(session, hook):
    url, _ = hook
    answer = post(session, f"{url}/refuse")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7" and answer.json()["code"] == 11232


def test_an_answer_over_the_limit_is_not_read(session, hook):
    url, _ = hook
    assert str(failure(session, f"{url}/huge")) == "answer over 1 MB, not read"


def test_a_redirect_is_not_followed(session, hook):
    url, seen = hook
    answer = post(session, f"{url}/moved")
    assert answer.status_code == 302 and seen == [{"moved": True}]


def test_a_session_of_the_callers_own_gets_the_deadline_too():
    peer = SlowPeer(every=None, lasts=8.0)
    started = time.monotonic()
    try:
        err = failure(requests.Session(), peer.url, timeout=1.0)
    finally:
        peer.close()
    assert str(err) == "no answer in 1 s" and time.monotonic() - started < 5


# -- the whole-call deadline ---------------------------------------------------------------------

@pytest.mark.parametrize("at_once", [0, "headers"], ids=["status-line", "body"])
def test_a_peer_dripping_its_answer_is_cut_off_at_the_deadline(session, at_once):
    """A byte every 0.2 s never trips a per-read timeout; the answer would take 40 s."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + b"x" * 200
    at_once = answer.index(b"\r\n\r\n") + 4 if at_once == "headers" else 0
    peer = SlowPeer(answer, at_once=at_once, every=0.2, lasts=8.0)
    started = time.monotonic()
    try:
        err = failure(session, peer.url, timeout=1.0)
    finally:
        peer.close()
    assert str(err) == "no answer in 1 s" and err.timed_out
    assert peer.finished == 0 and time.monotonic() - started < 5


def test_a_peer_that_accepts_and_never_answers_is_cut_off_at_the_deadline(session):
    peer = SlowPeer(every=None, lasts=8.0)
    started = time.monotonic()
    try:
        err = failure(session, f"{peer.url}/hook?{TOKEN}", timeout=1.0)
    finally:
        peer.close()
    assert str(err) == "no answer in 1 s" and err.timed_out and peer.requests == 1
    assert time.monotonic() - started < 5


def test_a_shorter_deadline_started_later_is_kept(session):
    """Calls in several threads, each held to its own deadline: a 0.5 s call started while a
    3 s one waits ends at about 0.5 s."""
    peer = SlowPeer(every=None, lasts=8.0)
    ended: dict[float, float] = {}

    def hang(timeout: float) -> None:
        started = time.monotonic()
        with pytest.raises(http.CallFailed):
            post(session, peer.url, timeout)
        ended[timeout] = time.monotonic() - started

    try:
        slow = threading.Thread(target=hang, args=(3.0,))
        slow.start()
        wait_for(lambda: peer.requests == 1)
        hang(0.5)
        slow.join()
    finally:
        peer.close()
    assert ended[0.5] < 2 and 3 <= ended[3.0] < 6


def test_through_a_proxy_the_same_deadline_holds(monkeypatch):
    """With a proxy variable set the call takes the same path: a proxy that drips is cut off."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    peer = SlowPeer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100,
                    every=0.2, lasts=8.0)
    monkeypatch.setenv("HTTP_PROXY", peer.url)
    session = http.http_session()
    started = time.monotonic()
    try:
        err = failure(session, f"http://hook.example/hook?{TOKEN}", timeout=1.0)
    finally:
        peer.close()
    assert peer.requests == 1  # it went to the proxy
    assert str(err) == "no answer in 1 s" and time.monotonic() - started < 5


def test_a_proxy_that_refuses_is_named(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    assert str(failure(http.http_session(), "http://hook.example/hook")) == \
        "proxy: connection refused"


# -- each failure in words -----------------------------------------------------------------------

def test_a_closed_port_is_connection_refused(session):
    err = failure(session, f"http://127.0.0.1:{free_port()}/hook?{TOKEN}", timeout=2)
    assert str(err) == "connection refused" and not err.timed_out


def test_a_name_that_does_not_resolve_is_a_failed_dns_lookup(session):
    assert str(failure(session, f"https://nonexistent.invalid/hook?{TOKEN}")) == \
        "DNS lookup failed for nonexistent.invalid"


def one_connection(answer) -> tuple[str, socket.socket]:
    """A peer on 127.0.0.1 that reads one request and then calls `answer(conn)`: (URL, its
    listener, to close)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
            while len(body) < length:  # all of it read: a close is a FIN, not an RST
                body += conn.recv(65536)
            answer(conn)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


def test_a_peer_resetting_the_connection_is_a_reset(session):
    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # linger 0: an RST, not a FIN

    url, listener = one_connection(reset)
    try:
        assert str(failure(session, f"{url}/hook?{TOKEN}")) == "connection reset"
    finally:
        listener.close()


@pytest.mark.parametrize("sent", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"],
                         ids=["nothing", "part"])
def test_a_peer_closing_before_the_whole_answer_says_so(session, sent):
    url, listener = one_connection(lambda conn: conn.sendall(sent))  # then a FIN
    try:
        assert str(failure(session, url)) == "connection closed before the whole answer"
    finally:
        listener.close()


def test_tls_to_a_plain_http_port_is_a_failed_handshake(session):
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    peer = SlowPeer(answer, at_once=len(answer), every=None, lasts=2.0)
    try:
        err = failure(session, peer.url.replace("http://", "https://"))
    finally:
        peer.close()
    assert str(err) == "TLS handshake failed: wrong version number"


def test_a_self_signed_certificate_fails_the_handshake(session, tls_server):
    _, url = tls_server(self_signed=True)
    assert str(failure(session, url)) == \
        "TLS handshake failed: certificate verify failed: self-signed certificate"


def test_https_is_checked_against_the_ca_bundle(session, tls_server, tmp_path):
    """A certificate from a CA the bundle lacks is refused; with that CA as the session's bundle
    (REQUESTS_CA_BUNDLE: a file, or a folder of hashed CAs) the same server is accepted, and with
    verify off; back on the default bundle it is refused again."""
    ca_file, url = tls_server(self_signed=False)
    refused = "TLS handshake failed: certificate verify failed: unable to get local issuer " \
              "certificate"
    assert str(failure(session, url)) == refused  # certifi's bundle: not our CA
    session.verify = str(ca_file)
    assert post(session, url).json() == {"code": 0}
    session.verify = False
    assert post(session, url).status_code == 200
    folder = tmp_path / "cas"
    folder.mkdir()
    name = subprocess.run(["openssl", "x509", "-subject_hash", "-noout", "-in", str(ca_file)],
                          capture_output=True, text=True, check=True).stdout.strip()
    (folder / f"{name}.0").write_bytes(ca_file.read_bytes())
    session.verify = str(folder)
    assert post(session, url).status_code == 200
    session.verify = True  # certifi's again: the folder is no longer trusted
    assert str(failure(session, url)) == refused


# -- URLs from outside ---------------------------------------------------------------------------

GUARD = http.UrlGuard(("dingtalk.com",))


@pytest.mark.parametrize("url, words", [
    ("http://oapi.dingtalk.com/robot/sendBySession?session=x", "refused: not https on port 443"),
    ("https://oapi.dingtalk.com:8443/x", "refused: not https on port 443"),
    ("https://oapi.dingtalk.com.evil.example/x",
     "refused: oapi.dingtalk.com.evil.example is not an allowed host"),
    ("https://evildingtalk.com/x", "refused: evildingtalk.com is not an allowed host"),
    ("https://oapi.dingtalk.com@evil.example/x", "refused: the URL has a user part"),
    ("https://evil.example\\@oapi.dingtalk.com/x", "refused: not a plain URL"),
    ("https://127.0.0.1/x", "refused: 127.0.0.1 is not an allowed host"),
    ("https://[::1/x", "refused: not a valid URL"),
])
def test_the_guard_refuses_a_url_elsewhere_before_any_connection(session, url, words):
    assert str(failure(session, url, guard=GUARD)) == words
    assert not GUARD.admits(url)


def test_the_guard_admits_dingtalks_own_hosts():
    assert GUARD.admit("https://oapi.dingtalk.com/robot/sendBySession?session=x") is True
    assert GUARD.admits("https://dingtalk.com:443/x")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_an_allowed_host_resolving_to_a_loopback_address_is_refused_on_connecting(
        session, monkeypatch, address):
    """DNS (here: a look-up made to answer so) may point an allowed name at this host: the
    connected peer is checked, and nothing is sent to it."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.create_server((address, 0), family=family)
    port, received = listener.getsockname()[1], []

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            received.append(conn.recv(65536))

    threading.Thread(target=accept, daemon=True).start()
    real = socket.getaddrinfo

    def lookup(host, *args, **kwargs):
        if host == "oapi.dingtalk.com":
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    try:
        err = failure(session, f"https://oapi.dingtalk.com/robot/sendBySession?{TOKEN}",
                      guard=GUARD)
        assert str(err) == f"refused: oapi.dingtalk.com is at {address}, a loopback address"
        wait_for(lambda: received)
        assert received == [b""]  # connected, then closed: not a byte of the request
    finally:
        listener.close()


def test_an_origin_the_admin_named_is_called_on_loopback_too(session, hook):
    url, seen = hook
    guard = http.UrlGuard(("dingtalk.com",), frozenset({url.lower()}))
    assert post(session, f"{url}/hook", guard=guard).json()["code"] == 0
    assert len(seen) == 1
    other = f"http://127.0.0.1:{free_port()}/hook"
    assert str(failure(session, other, guard=guard)) == "refused: 127.0.0.1 is not an allowed host"


def wait_for(predicate, seconds: float = 5.0):
    ends = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < ends, "timed out"
        time.sleep(0.01)


# -- a TLS peer ----------------------------------------------------------------------------------

@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1, its certificate self-signed or signed by a CA of this
    test's own: (the CA's file, the URL)."""
    servers = []

    def start(self_signed: bool):
        ca_file, cert_file, key_file = certificates(tmp_path, self_signed)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return ca_file, f"https://127.0.0.1:{server.server_address[1]}/hook"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"code": 0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def certificates(folder, self_signed: bool):
    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    if self_signed:
        ca_cert = server_cert = cert("127.0.0.1", key, "127.0.0.1", key, False)
    else:
        ca_cert = cert("relay test CA", ca_key, "relay test CA", ca_key, True)
        server_cert = cert("127.0.0.1", key, "relay test CA", ca_key, False)
    ca_file, cert_file, key_file = (folder / "ca.pem", folder / "server.pem",
                                    folder / "server.key")
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


# -- what requests raises, in words (faked at the transport) -------------------------------------

@pytest.mark.parametrize("raised, words", [
    (requests.ConnectTimeout(f"HTTPSConnectionPool(host=…): /x?{TOKEN}"), "no connection in 2 s"),
    (requests.ConnectionError(f"Max retries exceeded with url: /x?{TOKEN}"),
     "request failed (ConnectionError)"),
])
def test_what_requests_raises_is_said_without_the_url(session, raised, words):
    with responses.RequestsMock() as api:
        api.post("https://open.feishu.cn/x", body=raised)
        err = failure(session, f"https://open.feishu.cn/x?{TOKEN}", timeout=2)
    assert str(err) == words and not err.timed_out
