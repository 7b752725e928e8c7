"""`relay check` opens each long connection once and reports layer by layer (DNS → TCP → TLS →
auth → WebSocket → subscription) in the platform's or the system's own words: a good setup, a
wrong secret, an unreachable host, a host that does not resolve, a TLS failure (a self-signed
certificate; the same server passes once its certificate is trusted), and a ticket the
WebSocket refuses."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from relay.cli import main
from relay.clock import Clock
from relay.sandbox.dingtalk_app import FakeDingTalkApp
from relay.sandbox.guance import FakeGuance
from tests.helpers import free_port, served

API_KEY = "check-api-key-0123456789"
GROUP = "cidOpsGroup0000000001=="


@pytest.fixture
def real_guance():
    yield from served(FakeGuance(api_key=API_KEY, clock=Clock()))


@pytest.fixture
def ding():
    yield from served(FakeDingTalkApp(clock=Clock()))


@pytest.fixture
def setup(clean_env, tmp_path, real_guance, ding):
    real_guance.add_channel("ops")

    def write(base_url: str = ding.url, secret: str = ding.app_secret):
        (tmp_path / "relay.toml").write_text(f"""\
guance_base_url = "{real_guance.url}"
guance_api_key = "{API_KEY}"
channels = "ops"
database_url = "sqlite:///{tmp_path}/relay.db"
dingtalk_app_key = "{ding.app_key}"
dingtalk_app_secret = "{secret}"
dingtalk_open_base_url = "{base_url}"
dingtalk_card_template = "relay-alert.schema"

[dingtalk_app_groups]
ops-dt = "{GROUP}"

[routes]
ops = ["ops-dt"]
""", encoding="utf-8")
        (tmp_path / "relay.toml").chmod(0o600)  # it holds secrets

    write()
    clean_env.write = write
    return clean_env


def run(capsys, secret: str = "sandbox-secret"):
    code = main(["check"])
    out, err = capsys.readouterr()
    assert secret not in out + err
    lines = [line for line in out.splitlines() if line.startswith("connection dingtalk_app")]
    return code, lines, err


def test_a_good_setup_reports_every_layer(setup, capsys, ding):
    code, lines, err = run(capsys)
    assert (code, err) == (0, ""), err
    layers = [line.split(": ", 1)[1].split(" ")[0] for line in lines]
    assert layers == ["dns", "tcp", "auth", "dns", "tcp", "websocket", "subscription"]
    assert all(" ok: " in line for line in lines)
    assert lines[-1].endswith("the server keeps the connection and answers pings")
    assert len(ding.gateway_requests) == 1 and not ding.open_connections()  # opened once, closed


def test_a_wrong_secret_fails_at_auth_in_dingtalks_words(setup, capsys):
    setup.write(secret="not-the-secret")
    code, lines, err = run(capsys, "not-the-secret")
    assert code == 1
    assert lines[-1].startswith("connection dingtalk_app: auth FAILED: gateway: HTTP 401 "
                                "InvalidAuthentication: clientId or clientSecret wrong")
    assert "problem: connection dingtalk_app: auth failed: gateway: HTTP 401" in err


def test_an_unreachable_host_fails_at_tcp(setup, capsys):
    setup.write(base_url=f"http://127.0.0.1:{free_port()}")
    code, lines, err = run(capsys)
    assert code == 1
    assert lines[-1].startswith("connection dingtalk_app: tcp FAILED: 127.0.0.1:")
    assert lines[-1].endswith("Connection refused")


def test_a_name_that_does_not_resolve_fails_at_dns(setup, capsys):
    setup.write(base_url="https://api.dingtalk.invalid")
    code, lines, err = run(capsys)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("connection dingtalk_app: dns FAILED: api.dingtalk.invalid: ")


@pytest.fixture
def tls_gateway(ding, tmp_path):
    """The fake's gateway over HTTPS with a self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-dingtalk")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = make_server("127.0.0.1", 0, ding.app, threaded=True, ssl_context=context)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}", cert_file
    server.shutdown()
    server.server_close()


def test_a_tls_failure_fails_at_tls_in_the_systems_words(setup, capsys, tls_gateway):
    url, cert_file = tls_gateway
    setup.write(base_url=url)
    code, lines, err = run(capsys)
    assert code == 1
    assert lines[-1] == ("connection dingtalk_app: tls FAILED: 127.0.0.1: certificate verify "
                         "failed: self-signed certificate")
    setup.setenv("REQUESTS_CA_BUNDLE", str(cert_file))  # trusted: TLS passes, the rest follows
    code, lines, err = run(capsys)
    assert code == 0, err
    assert "connection dingtalk_app: tls ok: 127.0.0.1: TLSv1.3, certificate accepted" in lines


def test_a_refused_ticket_fails_at_the_subscription(setup, capsys, ding, monkeypatch):
    monkeypatch.setattr(ding, "_tickets", type("Forgetful", (set,), {"add": lambda s, t: None})())
    code, lines, err = run(capsys)
    assert code == 1
    assert lines[-1] == ("connection dingtalk_app: subscription FAILED: the server closed the "
                         "connection: close code 4001: unknown ticket")


def test_the_endpoint_call_names_its_layer_too():
    """What a Connection's last_error says when the endpoint call itself fails."""
    import time

    from relay import http
    from relay.connections import ConnectError, http_call

    session = http.http_session()
    with pytest.raises(ConnectError) as refused:
        http_call(session, "POST", f"http://127.0.0.1:{free_port()}/x", time.monotonic() + 10)
    assert (refused.value.layer, refused.value.words) == ("tcp", "127.0.0.1: connection refused")
    with pytest.raises(ConnectError) as unknown:
        http_call(session, "POST", "https://api.dingtalk.invalid/x", time.monotonic() + 10)
    assert unknown.value.layer == "dns"
    assert unknown.value.words == "DNS lookup failed for api.dingtalk.invalid"
