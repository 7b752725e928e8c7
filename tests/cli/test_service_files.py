"""The service files (Dockerfile, compose.yaml, the systemd unit in docs/operations.md,
relay.example.toml) cannot be built or started here: check what can be, that every RELAY_ name
they and the documentation use is a real setting and that the image installs relay exactly as
docs/operations.md says."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from relay.config import Settings

REPO = Path(__file__).resolve().parents[2]
NOT_FIELDS = {"RELAY_CONFIG"}  # read before the settings: it names their file
KNOWN = {f"RELAY_{name.upper()}" for name in Settings.model_fields} | NOT_FIELDS


def text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def relay_names(source: str) -> set[str]:
    return set(re.findall(r"\bRELAY_[A-Z][A-Z0-9_]*\b", source))


OPERATIONS = "docs/operations.md"  # the page holding the install steps and the systemd unit
DOCS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md"))]


def systemd_unit() -> str:
    return re.search(r"```ini\n(\[Unit\].*?)```", text(OPERATIONS), re.S).group(1)


def test_every_relay_name_in_the_service_files_and_docs_is_a_setting():
    for name in ("Dockerfile", "compose.yaml", "relay.example.toml", *DOCS):
        unknown = relay_names(text(name)) - KNOWN
        assert not unknown, f"{name} names no such setting: {sorted(unknown)}"
    assert relay_names(systemd_unit()) <= KNOWN


def test_relay_names_check_can_fail():
    assert relay_names("RELAY_PORT=1 RELAY_PROT=2") - KNOWN == {"RELAY_PROT"}


def test_the_image_installs_relay_with_the_documented_install_steps():
    runs = [line.removeprefix("RUN ").strip() for line in text("Dockerfile").splitlines()
            if line.startswith("RUN ")]
    page = text(OPERATIONS)
    block = re.search(r"<!-- install steps:[^>]*-->\n```sh\n(.*?)```", page, re.S).group(1)
    assert runs == [line.strip() for line in block.splitlines() if line.strip()]
    assert any("pip install" in run for run in runs)


def test_the_image_is_slim_unprivileged_runs_relay_and_checks_healthz():
    dockerfile = text("Dockerfile")
    assert re.search(r"^FROM python:[\d.]+-slim$", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^CMD \[\"relay\", \"run\"\]$", dockerfile, re.M)
    healthcheck = re.search(r"^HEALTHCHECK .*?(?<!\\)$", dockerfile, re.M | re.S).group(0)
    assert "/healthz" in healthcheck
    # what the image copies exists, and the unit's paths are the install steps'
    for line in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for part in line.split():
            assert (REPO / part).exists(), part
    unit = systemd_unit()
    assert "ExecStart=/opt/relay/venv/bin/relay run" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit and "User=relay" in unit


def test_compose_runs_two_replicas_on_one_postgres():
    compose = yaml.safe_load(text("compose.yaml"))
    services = compose["services"]
    relays = {name: s for name, s in services.items() if s.get("build") == "."}
    assert len(relays) == 2
    (db,) = [s for s in services.values() if str(s.get("image", "")).startswith("postgres:")]
    assert len({s["hostname"] for s in relays.values()}) == 2  # leases: owner is hostname:pid
    assert len({s["ports"][0].split(":")[0] for s in relays.values()}) == 2
    for service in relays.values():
        url = service["environment"]["RELAY_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://relay:") and "@db:5432/relay" in url
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
    assert db["environment"]["POSTGRES_DB"] == "relay" and "healthcheck" in db
