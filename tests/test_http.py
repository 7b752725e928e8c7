"""The webhook sinks' POST (relay.http.post, on libcurl) over real sockets on 127.0.0.1: kept-alive
connections, the session's headers, a whole-call timeout, refusals' headers, TLS checked against
the CA bundle, and no unbounded answer."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask, jsonify, request

from relay import http
from relay.web.server import WebServer
from tests.helpers import SlowPeer

JSON = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture
def session(monkeypatch):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    session = http.http_session()
    assert session.trust_env is False  # so post() takes libcurl, not requests
    return session


@pytest.fixture
def hook():
    """A webhook under waitress (which keeps connections alive, as Feishu does) recording what
    it was sent and from which client port."""
    app, seen = Flask("hook"), []

    @app.post("/hook")
    def receive():
        seen.append({"port": request.environ["REMOTE_PORT"], "headers": dict(request.headers),
                     "body": request.get_json()})
        return jsonify({"code": 0, "msg": "success"})

    @app.post("/refuse")
    def refuse():
        return jsonify({"code": 11232, "msg": "frequency limited"}), 429, {"Retry-After": "7"}

    @app.post("/huge")
    def huge():
        return b"x" * (http.MAX_ANSWER_BYTES + 1)

    server = WebServer(app, "127.0.0.1", 0).start()
    yield server.url, seen
    server.stop()


def test_cards_go_over_one_kept_alive_connection_with_the_sessions_headers(session, hook):
    url, seen = hook
    for n in range(3):
        answer = http.post(session, f"{url}/hook", b'{"n": %d}' % n, JSON, timeout=5)
        assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "success"}
    assert [s["body"] for s in seen] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len({s["port"] for s in seen}) == 1  # one connection for the three
    headers = seen[0]["headers"]
    assert headers["Content-Type"] == JSON["Content-Type"]
    assert headers["User-Agent"] == session.headers["User-Agent"]


def test_a_refusals_status_and_retry_after_are_read(session, hook):
    url, _ = hook
    answer = http.post(session, f"{url}/refuse", b"{}", JSON, timeout=5)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7" and answer.json()["code"] == 11232


def test_a_peer_dribbling_its_answer_is_cut_off_by_the_timeout_of_the_whole_call(session):
    """A byte every 0.2 s never trips a per-read timeout; the answer would take 40 s."""
    peer = SlowPeer(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + b"x" * 200,
                    at_once=20, every=0.2, lasts=8.0)
    with pytest.raises(requests.ReadTimeout):
        http.post(session, peer.url, b"{}", JSON, timeout=1.0)
    peer.release()


def test_an_answer_over_the_limit_is_not_read(session, hook):
    url, _ = hook
    with pytest.raises(requests.ConnectionError):
        http.post(session, f"{url}/huge", b"{}", JSON, timeout=5)


def test_a_closed_port_is_a_connection_error(session):
    with pytest.raises(requests.ConnectionError):
        http.post(session, "http://127.0.0.1:9/hook", b"{}", JSON, timeout=2)


def test_https_is_checked_against_the_ca_bundle(session, https_hook, tmp_path):
    """A certificate from a CA the bundle lacks is refused; with that CA as the session's bundle
    (REQUESTS_CA_BUNDLE: a file, or a folder of hashed CAs) the same server is accepted, and with
    verify off; back on the default bundle it is refused again: the thread's libcurl handle
    keeps no CA option of an earlier call."""
    ca_file, url = https_hook
    with pytest.raises(requests.ConnectionError):
        http.post(session, url, b"{}", JSON, timeout=5)  # certifi's bundle: not our CA
    session.verify = str(ca_file)
    assert http.post(session, url, b"{}", JSON, timeout=5).json() == {"code": 0}
    session.verify = False
    assert http.post(session, url, b"{}", JSON, timeout=5).status_code == 200
    folder = tmp_path / "cas"
    folder.mkdir()
    name = subprocess.run(["openssl", "x509", "-subject_hash", "-noout", "-in", str(ca_file)],
                          capture_output=True, text=True, check=True).stdout.strip()
    (folder / f"{name}.0").write_bytes(ca_file.read_bytes())
    session.verify = str(folder)
    assert http.post(session, url, b"{}", JSON, timeout=5).status_code == 200
    session.verify = True  # certifi's again: the folder is no longer trusted
    with pytest.raises(requests.ConnectionError):
        http.post(session, url, b"{}", JSON, timeout=5)


@pytest.fixture
def https_hook(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate signed by a CA of this test's own."""
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
    ca_cert = cert("relay test CA", ca_key, "relay test CA", ca_key, True)
    server_cert = cert("127.0.0.1", key, "relay test CA", ca_key, False)
    ca_file, cert_file, key_file = (tmp_path / "ca.pem", tmp_path / "server.pem",
                                    tmp_path / "server.key")
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield ca_file, f"https://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()
