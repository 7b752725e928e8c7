"""Settings errors as the `relay` command reports them, and secrets kept out of output and logs."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from relay.cli import main
from relay.config import Settings
from relay.logs import MASK, RedactingFormatter, Redactor

REPO = Path(__file__).resolve().parents[2]
API_KEY = "tkn_SECRET_api_key_7f3e9d1c5b"
REPLY_TOKEN = "SECRET-reply-token-48151623"
HOOK_ID = "SECREThookid0a1b2c3d4e5f"
WEBHOOK = f"https://www.feishu.cn/flow/api/trigger-webhook/{HOOK_ID}"
SECRETS = (API_KEY, REPLY_TOKEN, HOOK_ID)


@pytest.fixture
def env(clean_env, tmp_path):
    """A clean environment in an empty directory (no .env, no relay.db of the repo), with a
    complete valid configuration that each test then breaks in one place."""
    monkeypatch = clean_env
    values = {
        "RELAY_GUANCE_API_KEY": API_KEY,
        "RELAY_REPLY_TOKEN": REPLY_TOKEN,
        "RELAY_FEISHU_WEBHOOK_URL": WEBHOOK,
        "RELAY_DATABASE_URL": f"sqlite:///{tmp_path}/relay.db",
        # should a check be skipped, `run` stops at this missing file instead of serving forever
        "RELAY_CRONTAB": str(tmp_path / "no-such-crontab"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_config_error(code: int, out: str, err: str, variable: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert variable in lines[0]
    for secret in SECRETS:
        assert secret not in out + err


def test_baseline_configuration_gets_past_the_settings(env, capsys):
    # The fixture's configuration is valid: `run` only stops at the (deliberately) missing
    # crontab. This keeps the tests below honest: each one breaks exactly one thing.
    code, out, err = run(capsys, "run")
    assert code == 2
    assert "no-such-crontab" in err and "RELAY_" not in err
    for secret in SECRETS:
        assert secret not in out + err


def test_run_without_the_api_key(env, capsys):
    env.delenv("RELAY_GUANCE_API_KEY")
    assert_config_error(*run(capsys, "run"), "RELAY_GUANCE_API_KEY")


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_api_key_counts_as_missing(env, capsys, value):
    env.setenv("RELAY_GUANCE_API_KEY", value)  # e.g. left blank in a .env template
    assert_config_error(*run(capsys, "run"), "RELAY_GUANCE_API_KEY")


def test_run_needs_no_reply_token(env, capsys):
    # a team that replies only through DingTalk or the Feishu app bot sets no RELAY_REPLY_TOKEN
    env.delenv("RELAY_REPLY_TOKEN")
    code, out, err = run(capsys, "run")
    assert code == 2 and "no-such-crontab" in err and "RELAY_" not in err


@pytest.mark.parametrize("value", ["eighty", "80.5", "-1", "70000", ""])
def test_malformed_port(env, capsys, value):
    env.setenv("RELAY_PORT", value)
    assert_config_error(*run(capsys, "run"), "RELAY_PORT")


@pytest.mark.parametrize("value", ['{"chan_ops": ["ops"]', "{chan_ops: ops}", "not json",
                                   '["ops"]', '{"chan_ops": 5}'])
def test_malformed_routes(env, capsys, value):
    env.setenv("RELAY_ROUTES", value)
    assert_config_error(*run(capsys, "run"), "RELAY_ROUTES")


def test_routes_naming_an_unknown_destination(env, capsys):
    env.setenv("RELAY_DESTINATIONS", '{"ops": "https://www.feishu.cn/flow/api/trigger-webhook/'
                                     'SECRETopshook99"}')
    env.setenv("RELAY_ROUTES", '{"chan_ops": ["ops", "pager"]}')
    code, out, err = run(capsys, "run")
    assert_config_error(code, out, err, "RELAY_ROUTES")
    assert "pager" in err
    assert "SECRETopshook99" not in err


@pytest.mark.parametrize("value", ["Mars/Olympus", "Asia/Shangai", "UTC+8", "../../etc/passwd"])
def test_bad_timezone(env, capsys, value):
    env.setenv("RELAY_TIMEZONE", value)
    assert_config_error(*run(capsys, "run"), "RELAY_TIMEZONE")


@pytest.mark.parametrize("variable, value", [
    ("RELAY_FEISHU_WEBHOOK_URL", HOOK_ID),  # the id pasted without the URL
    ("RELAY_DESTINATIONS", f'{{"ops": "{HOOK_ID}"}}'),
    ("RELAY_DESTINATIONS", f'{{"ops": "{WEBHOOK}"'),  # broken JSON around a secret
    ("RELAY_GUANCE_BASE_URL", f"openapi.guance.com?key={API_KEY}"),
])
def test_malformed_secret_value_is_not_echoed(env, capsys, variable, value):
    env.setenv(variable, value)
    assert_config_error(*run(capsys, "run"), variable)


def test_dotenv_in_the_working_directory_is_read(env, capsys, tmp_path):
    (tmp_path / ".env").write_text("RELAY_PORT=eighty\n", encoding="utf-8")
    assert_config_error(*run(capsys, "run"), "RELAY_PORT")


def test_check_crontab_accepts_the_example(env, capsys):
    code, out, err = run(capsys, "check-crontab", str(REPO / "crontab.example"))
    assert code == 0, err
    jobs = [line.split()[6] for line in out.strip().splitlines()]
    assert jobs == ["poll_issues", "deliver", "prune", "notify_replies", "track_issues"]
    assert "days=30" in out


def test_check_crontab_rejects_a_bad_line(env, capsys, tmp_path):
    bad = tmp_path / "crontab"
    bad.write_text("* * * * * poll_issues\n61 * * * * deliver\n", encoding="utf-8")
    code, out, err = run(capsys, "check-crontab", str(bad))
    assert code == 2
    assert f"{bad}:2:" in err


# -- log redaction ------------------------------------------------------------------------------

def redacting_logger(secrets: list[str]) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(Redactor(secrets), "%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test-redaction-{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_log_line_masks_configured_secrets():
    settings = Settings(_env_file=None, guance_api_key=API_KEY, reply_token=REPLY_TOKEN,
                        feishu_webhook_url=WEBHOOK)
    logger, stream = redacting_logger(settings.secrets())
    logger.info("calling Guance with DF-API-KEY %s", API_KEY)
    logger.info("posting to %s", WEBHOOK)
    logger.warning("Feishu rejected hook %s; token was %s", HOOK_ID, REPLY_TOKEN)
    text = stream.getvalue()
    for secret in SECRETS:
        assert secret not in text
    assert text.count(MASK) == 4
    assert "calling Guance with DF-API-KEY ***" in text
    assert "posting to ***\n" in text


def test_traceback_in_log_is_masked():
    logger, stream = redacting_logger([API_KEY])
    try:
        raise RuntimeError(f"401 for key {API_KEY}")
    except RuntimeError:
        logger.exception("poll failed")
    text = stream.getvalue()
    assert "RuntimeError: 401 for key ***" in text
    assert API_KEY not in text


def test_longer_secret_is_masked_whole():
    # the hook id is also a secret on its own; the full URL must not leave a tail behind
    logger, stream = redacting_logger([HOOK_ID[:8], WEBHOOK])
    logger.info("sink %s", WEBHOOK)
    assert stream.getvalue().strip() == "INFO sink ***"
