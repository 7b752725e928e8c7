"""The config file (relay.toml / RELAY_CONFIG): TOML tables instead of JSON strings, the
environment and .env over it, errors naming the file, the key and the line, and `relay config`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from relay.cli import main
from relay.config import Settings, load_settings
from relay.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
API_KEY = "tkn_FILE_api_key_0123456789"
DING_SECRET = "SECfilesecret0123456789abcdef"
HOOK = "https://www.feishu.cn/flow/api/trigger-webhook/FILEhook0123456789"
GOOD = f"""\
# relay settings
guance_api_key = "{API_KEY}"
channels = ["ops", "db"]
port = 9000

[destinations]
ops-team = "{HOOK}"
ops-ding = {{ type = "dingtalk", url = "https://oapi.dingtalk.com/robot/send?access_token=FILEtok123456", secret = "{DING_SECRET}" }}

[routes]
ops = "ops-team"
db = ["ops-team", "ops-ding"]

[feishu_app_chats]
ops-chat = "oc_0123456789"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config_error(capsys) -> str:
    """Run `relay config`, expect exit 2 with one line on stderr; return it."""
    assert main(["config"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_relay_toml_tables_become_settings_and_the_environment_wins(clean_env, tmp_path):
    write(tmp_path / "relay.toml", GOOD)
    clean_env.setenv("RELAY_PORT", "9100")
    write(tmp_path / ".env", "RELAY_CHANNELS=ops\n")
    settings = load_settings()
    assert settings.port == 9100  # env over the file
    assert settings.channels == "ops"  # .env over the file
    assert settings.guance_api_key.get_secret_value() == API_KEY
    assert settings.routes == {"ops": ["ops-team"], "db": ["ops-team", "ops-ding"]}
    table = settings.destination_table()
    assert table["ops-ding"].kind == "dingtalk"
    assert table["ops-ding"].secret.get_secret_value() == DING_SECRET
    assert settings.feishu_app_chats == {"ops-chat": "oc_0123456789"}
    assert settings.routing()["db"] == ["ops-team", "ops-ding"]


def test_an_environment_json_table_replaces_the_files_table(clean_env, tmp_path):
    write(tmp_path / "relay.toml", GOOD)
    clean_env.setenv("RELAY_ROUTES", '{"ops": "ops-ding"}')
    assert load_settings().routes == {"ops": ["ops-ding"]}


def test_relay_config_names_another_file(clean_env, tmp_path):
    write(tmp_path / "relay.toml", 'port = 1111\n')
    other = write(tmp_path / "elsewhere.toml", 'port = 2222\n')
    assert load_settings().port == 1111
    clean_env.setenv("RELAY_CONFIG", str(other))
    assert load_settings().port == 2222


def test_no_file_no_change(clean_env):
    assert load_settings().port == Settings.model_fields["port"].default


def test_a_missing_relay_config_file_is_named(clean_env, tmp_path, capsys):
    clean_env.setenv("RELAY_CONFIG", str(tmp_path / "nope.toml"))
    line = config_error(capsys)
    assert line == f"relay: RELAY_CONFIG: config file {tmp_path / 'nope.toml'} does not exist"


def test_bad_toml_syntax_names_the_file_and_line(clean_env, tmp_path, capsys):
    write(tmp_path / "relay.toml", 'port = 9000\n\n[routes]\nops = "ops-team\n')
    line = config_error(capsys)
    assert line.startswith("relay: relay.toml:4: not valid TOML:"), line


def test_an_unknown_key_is_named_with_its_line_and_a_hint(clean_env, tmp_path, capsys):
    write(tmp_path / "relay.toml", 'port = 9000\n\n[rootes]\nops = "ops-team"\n')
    assert config_error(capsys) == ("relay: relay.toml:3: unknown setting 'rootes' "
                                    "(did you mean 'routes'?)")


def test_a_bad_value_names_the_key_and_line_never_the_value(clean_env, tmp_path, capsys):
    write(tmp_path / "relay.toml", GOOD.replace('"oc_0123456789"', '"SECRETchat99"'))
    line = config_error(capsys)
    assert line.startswith("relay: relay.toml:14: feishu_app_chats:"), line
    assert "SECRETchat99" not in line


def test_a_bad_destination_in_the_file_names_the_entry_not_its_url(clean_env, tmp_path):
    write(tmp_path / "relay.toml",
          GOOD.replace("access_token=FILEtok123456", "x=1&t=FILEtok123456"))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith("relay.toml:6: destinations: destination 'ops-ding'")
    assert "FILEtok123456" not in str(info.value) and "x=1" not in str(info.value)


def test_a_bad_value_overridden_by_the_environment_names_the_variable(clean_env, tmp_path):
    write(tmp_path / "relay.toml", "port = 1\n")
    clean_env.setenv("RELAY_PORT", "99999")
    with pytest.raises(ConfigError, match=r"^RELAY_PORT: "):
        load_settings()


def test_relay_config_prints_each_setting_with_its_source_and_masks_secrets(
        clean_env, tmp_path, capsys):
    write(tmp_path / "relay.toml", GOOD)
    clean_env.setenv("RELAY_PORT", "9100")
    clean_env.setenv("RELAY_REPLY_TOKEN", "ENVreplytoken0123456789")
    write(tmp_path / ".env", "RELAY_LOG_FORMAT=json\n")
    assert main(["config"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = {line.split(" = ")[0]: line for line in out.splitlines() if line.startswith("RELAY_")}
    assert set(lines) == {f"RELAY_{name.upper()}" for name in Settings.model_fields}
    assert lines["RELAY_PORT"] == "RELAY_PORT = 9100  (env)"
    assert lines["RELAY_LOG_FORMAT"] == 'RELAY_LOG_FORMAT = "json"  (.env)'
    assert lines["RELAY_REPLY_TOKEN"] == 'RELAY_REPLY_TOKEN = "***"  (env)'
    assert lines["RELAY_GUANCE_API_KEY"] == 'RELAY_GUANCE_API_KEY = "***"  (file relay.toml:2)'
    assert lines["RELAY_ROUTES"].endswith("(file relay.toml:10)")
    assert '"ops-ding": {"type": "dingtalk", "url": "***", "secret": "***"}' in lines[
        "RELAY_DESTINATIONS"]
    assert lines["RELAY_TIMEZONE"] == 'RELAY_TIMEZONE = "Asia/Shanghai"  (default)'
    for secret in (API_KEY, DING_SECRET, "FILEhook0123456789", "FILEtok123456",
                   "ENVreplytoken0123456789"):
        assert secret not in out


def test_the_example_file_lists_every_setting_and_parses_when_uncommented(clean_env):
    text = (REPO / "relay.example.toml").read_text(encoding="utf-8")
    uncommented = "\n".join(re.sub(r"^# (?=\[[\w.-]+\]$|[\w-]+ = )", "", line)
                            for line in text.splitlines())
    data = tomllib.loads(uncommented)
    assert set(data) == set(Settings.model_fields)
    Settings(_env_file=None, **data)  # every example value is valid
    assert tomllib.loads(text) == {}  # as shipped, it sets nothing


def test_the_settings_reference_is_generated_from_the_descriptions_in_the_code(capsys):
    """docs/configuration.md's table and relay.example.toml say what Settings' descriptions say:
    after changing a setting, `python -m relay.config.reference` rewrites both."""
    from relay.config import reference

    assert all(field.description for field in Settings.model_fields.values())
    assert reference.main(["--check"]) == 0, capsys.readouterr().err
    table = (REPO / "docs/configuration.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"| `RELAY_{name.upper()}` |" in table and field.description in table
    # a stale file is caught
    assert reference.doc_text(table.replace("| `RELAY_PORT` |", "| `RELAY_PORTS` |")) == table
    assert reference.example_text() == (REPO / "relay.example.toml").read_text(encoding="utf-8")


DB_PASSWORD = "Db-pa55word-0123"
DB_URL = f"postgresql+psycopg://relay:{DB_PASSWORD}@db.internal:5432/relay"


def test_relay_config_masks_the_database_password(clean_env, capsys):
    clean_env.setenv("RELAY_DATABASE_URL", DB_URL)
    assert main(["config"]) == 0
    out, _ = capsys.readouterr()
    line = next(line for line in out.splitlines() if line.startswith("RELAY_DATABASE_URL"))
    assert line == ('RELAY_DATABASE_URL = "postgresql+psycopg://relay:***@db.internal:5432/relay"'
                    "  (env)")
    assert DB_PASSWORD not in out


def test_the_database_password_is_redacted_from_log_lines(clean_env):
    from relay.logs import Redactor

    encoded = "p%40ss%3Aword-0123"  # p@ss:word-0123, percent-encoded in the URL
    for url, password in ((DB_URL, DB_PASSWORD),
                          (f"postgresql+psycopg://relay:{encoded}@db/relay", "p@ss:word-0123")):
        redact = Redactor(load_settings(database_url=url).secrets())
        line = redact(f"connect to {url} failed: password {password} refused")
        assert password not in line and "***" in line, line
        assert "db" in line  # the rest of the URL stays readable


def test_a_config_file_with_secrets_every_user_may_read_is_warned_of_at_start_up(
        clean_env, tmp_path, capsys, root_logging):
    toml = write(tmp_path / "relay.toml", f'feishu_webhook_url = "{HOOK}"\n'
                                          f'database_url = "sqlite:///{tmp_path}/relay.db"\n')
    toml.chmod(0o644)
    assert main(["deliver"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if " WARNING " in line]
    assert len(warnings) == 1 and warnings[0].endswith(
        "WARNING relay: relay.toml holds secrets (feishu_webhook_url) and every user of this "
        "machine may read it: chmod 600 relay.toml")
    toml.chmod(0o600)
    assert main(["deliver"]) == 0
    assert " WARNING " not in capsys.readouterr().err


@pytest.mark.parametrize("text", ['port = 9000\n', 'database_url = "sqlite:///relay.db"\n'])
def test_a_readable_config_file_without_secrets_is_no_warning(clean_env, tmp_path, text):
    from relay.config.settings import exposed_config_file

    write(tmp_path / "relay.toml", text).chmod(0o644)
    assert exposed_config_file() is None
    write(tmp_path / "relay.toml", text + f'database_url = "{DB_URL}"\n'
          if "database_url" not in text else f'database_url = "{DB_URL}"\n')
    assert "(database_url)" in (exposed_config_file() or "")
