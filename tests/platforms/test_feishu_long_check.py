"""`relay check` with RELAY_FEISHU_EVENTS=long opens the app bot's long connection once and
reports it layer by layer: every layer of a good setup (the subscription layer answered by the
fake's pong to relay's protobuf ping), a wrong App Secret at auth in Feishu's words, an
unreachable host at tcp; the secret itself is never printed."""

from __future__ import annotations

import pytest

from relay.cli import main
from relay.clock import Clock
from relay.sandbox.feishu_app import FakeFeishuApp
from relay.sandbox.guance import FakeGuance
from tests.helpers import free_port, served

API_KEY = "check-api-key-0123456789"


@pytest.fixture
def real_guance():
    yield from served(FakeGuance(api_key=API_KEY, clock=Clock()))


@pytest.fixture
def real_app():
    yield from served(FakeFeishuApp(clock=Clock()))


@pytest.fixture
def long(real_app):
    fake = real_app.listen()
    yield fake
    fake.stop()


@pytest.fixture
def setup(clean_env, tmp_path, real_guance, real_app, long):
    real_guance.add_channel("ops")

    def write(base_url: str = real_app.url, secret: str = real_app.app_secret, extra: str = ""):
        (tmp_path / "relay.toml").write_text(f"""\
guance_base_url = "{real_guance.url}"
guance_api_key = "{API_KEY}"
channels = "ops"
database_url = "sqlite:///{tmp_path}/relay.db"
feishu_app_id = "{real_app.app_id}"
feishu_app_secret = "{secret}"
feishu_open_base_url = "{base_url}"
feishu_events = "long"
{extra}
[feishu_app_chats]
ops-chat = "oc_ops0000000000000000000000001"

[routes]
ops = ["ops-chat"]
""", encoding="utf-8")
        (tmp_path / "relay.toml").chmod(0o600)  # it holds secrets

    write()
    clean_env.write = write
    return clean_env


def run(capsys, secret: str):
    code = main(["check"])
    out, err = capsys.readouterr()
    assert secret not in out + err
    return code, [line for line in out.splitlines() if line.startswith("connection feishu")], err


def test_a_good_setup_reports_every_layer(setup, capsys, real_app, long):
    code, lines, err = run(capsys, real_app.app_secret)
    assert (code, err) == (0, ""), err
    layers = [line.split(": ", 1)[1].split(" ")[0] for line in lines]
    assert layers == ["dns", "tcp", "auth", "dns", "tcp", "websocket", "subscription"]
    assert all(" ok: " in line for line in lines)
    assert lines[-1].endswith("the server keeps the connection and sends frames")  # the pong
    assert long.pings == 1 and len(long.endpoint_requests) == 1 and not long.open_connections()


def test_a_wrong_secret_fails_at_auth_in_feishus_words(setup, capsys):
    setup.write(secret="not-the-app-secret")
    code, lines, err = run(capsys, "not-the-app-secret")
    assert code == 1
    assert lines[-1].startswith("connection feishu: auth FAILED: Feishu code 10003: invalid "
                                "app_id or app_secret (RELAY_FEISHU_APP_ID / RELAY_FEISHU_APP_SECRET")
    assert "problem: connection feishu: auth failed: Feishu code 10003" in err


def test_an_unreachable_host_fails_at_tcp(setup, capsys, real_app):
    setup.write(base_url=f"http://127.0.0.1:{free_port()}")
    code, lines, err = run(capsys, real_app.app_secret)
    assert code == 1
    assert lines[-1].startswith("connection feishu: tcp FAILED: 127.0.0.1:")


def test_a_verification_token_left_over_is_a_warning_in_long_mode(setup, capsys, real_app):
    setup.write(extra='feishu_verification_token = "left-over-token"\n')
    code, lines, err = run(capsys, real_app.app_secret)
    assert code == 0
    assert "warning: RELAY_FEISHU_VERIFICATION_TOKEN / RELAY_FEISHU_ENCRYPT_KEY are unused " \
        "with RELAY_FEISHU_EVENTS=long" in err
