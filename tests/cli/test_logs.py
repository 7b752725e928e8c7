"""Log lines: one per event, text or JSON, with channel / issue / destination fields, and no
secret in either format."""

from __future__ import annotations

import io
import json
import logging

import pytest

from relay.logs import Redactor, setup_logging
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.settings import load_settings


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
    from relay.settings import ConfigError

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
    from relay.settings import Settings

    values = {name: sample for name, field in Settings.model_fields.items()
              if (sample := secret_sample(name, str(field.annotation))) is not None}
    assert {"guance_api_key", "reply_token", "ui_token", "destinations",
            "feishu_bot_secrets"} <= set(values)  # the sampler recognises the secret kinds
    settings = load_settings(_env_file=None, **values)
    setup_logging(Redactor(settings.secrets()), fmt="text", stream=captured)
    for name in values:
        logging.getLogger("relay.test").warning("value of %s: %s-s3cr3t-value", name, name)
    assert "s3cr3t" not in captured.getvalue()
