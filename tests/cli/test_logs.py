"""Log lines: one per event, text or JSON, with channel / issue / destination fields, and no
secret in either format."""

from __future__ import annotations

import io
import json
import logging

import pytest

from relay.config import load_settings
from relay.logs import Redactor, setup_logging
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll


@pytest.fixture
def captured():
    """Route the root logger into a string for the test; restore it afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_a_log_line(captured, fmt):
    webhook = "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-secret-hook-token"
    settings = load_settings(_env_file=None, guance_api_key="gk-live-9a8b7c6d5e4f",
                             feishu_webhook_url=webhook, ui_token="ui-token-5f4e3d2c1b")
    setup_logging(Redactor(settings.secrets()), fmt=fmt, stream=captured)
    log = logging.getLogger("relay.test")
    log.warning("Feishu refused %s with key %s", webhook, "gk-live-9a8b7c6d5e4f",
                extra={"destination": webhook, "issue": "issue_1"})
    log.info("token hook only: 0f1e2d3c-secret-hook-token; page token ui-token-5f4e3d2c1b")
    try:
        raise RuntimeError("boom with gk-live-9a8b7c6d5e4f")
    except RuntimeError:
        log.exception("failed")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 3  # one line per event, the traceback included
    for secret in ("gk-live-9a8b7c6d5e4f", "0f1e2d3c-secret-hook-token", "ui-token-5f4e3d2c1b"):
        assert secret not in captured.getvalue()
    assert "***" in lines[0] and "***" in lines[1] and "***" in lines[2]
    if fmt == "json":
        first = json.loads(lines[0])
        assert first["destination"] == "***"  # the whole webhook URL is a secret
        assert "RuntimeError: boom with ***" in json.loads(lines[2])["exception"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_delivery_line_names_its_channel_issue_and_destination(captured, fmt, make_runtime,
                                                                 two_teams, guance, clock):
    rt = make_runtime(**two_teams)
    setup_logging(rt.redact, fmt=fmt, stream=captured)
    poll(rt)
    clock.advance(5)
    uuid = guance.add_issue("disk full", channels=["db"])
    clock.advance(5)
    poll(rt)
    deliver(rt)
    lines = [line for line in captured.getvalue().splitlines() if "delivered" in line]
    assert len(lines) == 1
    if fmt == "json":
        entry = json.loads(lines[0])
        assert (entry["channel"], entry["issue"], entry["destination"]) == ("db", uuid, "db-team")
        assert entry["level"] == "INFO" and entry["logger"] == "relay.delivery"
    else:
        assert lines[0].endswith(f"channel=db issue={uuid} destination=db-team")


def test_an_unknown_log_format_stops_start_up_naming_the_setting():
    from relay.config import ConfigError

    with pytest.raises(ConfigError, match="RELAY_LOG_FORMAT: .*'text' or 'json'"):
        load_settings(_env_file=None, log_format="xml")


def secret_sample(name: str, annotation: str) -> object | None:
    """A value for a settings field that holds secrets (None for one that holds none)."""
    token = f"{name}-s3cr3t-value"
    if "Destination" in annotation:
        return {"ding": {"type": "dingtalk", "secret": f"SEC{token}",
                         "url": f"https://oapi.dingtalk.com/robot/send?access_token={token}"}}
    if annotation.startswith("dict") and "SecretStr" in annotation:
        return {"default": token}
    if "SecretStr" in annotation:
        return f"https://www.feishu.cn/flow/api/trigger-webhook/{token}" if "url" in name else token
    return None


def test_every_secret_setting_is_redacted(captured):
    """Derived from the settings' declared types: a new SecretStr field is covered with no
    change here, and a secret that is not redacted fails."""
    from relay.config import Settings

    values = {name: sample for name, field in Settings.model_fields.items()
              if (sample := secret_sample(name, str(field.annotation))) is not None}
    assert {"guance_api_key", "reply_token", "ui_token", "destinations",
            "feishu_bot_secrets"} <= set(values)  # the sampler recognises the secret kinds
    settings = load_settings(_env_file=None, **values)
    setup_logging(Redactor(settings.secrets()), fmt="text", stream=captured)
    for name in values:
        logging.getLogger("relay.test").warning("value of %s: %s-s3cr3t-value", name, name)
    assert "s3cr3t" not in captured.getvalue()


HOSTILE = "Mallory\r\n2026-01-01 00:00:00,000 INFO relay: forged\x1b[2J\u2028also forged\x85\u202e"


def forged_lines(text: str) -> list[str]:
    """Every way a terminal or log viewer could start a new line (or wipe the screen) in `text`."""
    return [c for c in ("\r", "\n", "\x1b", "\u2028", "\u2029", "\x85", "\u202e") if c in text]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_text_from_a_request_cannot_forge_a_log_line(captured, fmt, make_runtime, clock):
    from relay.web.app import create_app
    from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention

    rt = make_runtime(dingtalk_app_secret=APP_SECRET)
    setup_logging(rt.redact, fmt=fmt, stream=captured)
    body = {**mention("#issue_3f9a1c2b4d5e6f708192a3b4c5d6e7f8#hi"), "senderNick": HOSTILE}
    assert create_app(rt).test_client().post("/dingtalk/reply", json=body,
                                             headers=headers(clock)).status_code == 200
    logging.getLogger("relay.test").warning("field too", extra={"issue": HOSTILE})
    *lines, rest = captured.getvalue().split("\n")
    assert rest == "" and len(lines) == 2  # two events, two lines: nothing forged a third
    assert [forged_lines(line) for line in lines] == [[], []]
    nick_line = next(line for line in lines if "Mallory" in line)
    if fmt == "json":
        assert json.loads(nick_line)["message"].startswith(f"DingTalk reply from {HOSTILE}:")
    else:
        assert "Mallory\\r\\n2026-01-01" in nick_line and "\\u001b[2J\\u2028also" in nick_line
