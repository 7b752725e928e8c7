"""`relay check`: are the settings right for the real services, before the first alert?

It validates the settings as `relay run` does, makes one Guance call (the channel list: is the
key accepted, is every watched channel there by name), reads the shared call budget,
describes each destination (its kind, host, signing and the channels routed to it) without
calling it (`relay send-test NAME` does that), and opens each long connection once, reporting
layer by layer (relay/connections/check.py). A report goes to stdout; each problem is one line
on stderr, and any problem makes the exit code 1; a warning (a setting that works, but not as
one would expect) is a line on stderr too, and leaves the exit code alone.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from sqlalchemy import select

from relay.config import load_settings
from relay.config.destinations import TYPES
from relay.config.settings import exposed_config_file
from relay.config.file import config_path
from relay.connections import check as check_link
from relay.guance import GuanceAuthError, GuanceBudgetExhausted, GuanceError
from relay.platforms.registry import PLATFORMS
from relay.runtime import Runtime
from relay.store.budget import GuanceBudget


def destination_lines(rt: Runtime) -> list[str]:
    """One line per destination: what it is and who sends to it (never its URL or secret)."""
    routed: dict[str, list[str]] = {}
    for channel, names in rt.routing.items():
        for name in names:
            routed.setdefault(name, []).append(channel)
    lines = []
    table = rt.settings.destination_table()
    webhooks = sorted(n for n, d in table.items() if d.url is not None)
    for name in webhooks + sorted(set(table) - set(webhooks)):  # the app chats last, as before
        dest = table[name]
        if dest.url is None:
            where = f"{'chat' if dest.chat_id else 'group'} {dest.chat}"
        else:
            host = urlsplit(dest.url.get_secret_value()).hostname or "?"
            signed = ", signed" if dest.secret else (", unsigned" if TYPES[dest.kind].signs
                                                     else "")
            where = f"at {host}{signed}"
        lines.append(f"destination {name!r}: {dest.kind} {where}; "
                     f"channels: {', '.join(routed.get(name, [])) or 'none'}")
    return lines


def guance_problems(rt: Runtime, out: list[str]) -> list[str]:
    """One call: the channel list. Problems: key refused, Guance unreachable, channels missing."""
    base = rt.settings.guance_base_url
    try:
        channels = rt.guance.channels()
    except GuanceAuthError as exc:
        return [f"Guance {base} refused RELAY_GUANCE_API_KEY (HTTP {exc.status} "
                f"{exc.error_code}): is it this site's key, and not revoked?"]
    except GuanceBudgetExhausted as exc:
        return [f"Guance: the call budget is used up; try again in {exc.wait:.0f} s"]
    except GuanceError as exc:
        return [f"Guance {base}: {rt.redact(str(exc))}"]
    out.append(f"guance: {base} accepted the key; {len(channels)} channel(s) in the workspace")
    problems = []
    for key in rt.routing:
        match = next((c for c in channels if key in (c.uuid, c.name)), None)
        if match is None:
            problems.append(f"channel {key!r} is not in this Guance workspace (check "
                            "RELAY_CHANNELS / RELAY_ROUTES; names are matched exactly)")
        else:
            out.append(f"channel {key!r}: {match.uuid} → {', '.join(rt.routing[key])}")
    return problems


def budget_line(rt: Runtime) -> str:
    limit = rt.settings.guance_calls_per_minute
    with rt.engine.connect() as conn:
        paused_until = conn.scalar(select(GuanceBudget.blocked_until)
                                   .where(GuanceBudget.key_id == rt.budget.key)) or 0.0
    pause = paused_until - rt.clock.now()
    state = (f"paused for {pause:.0f} s more after a rate-limit answer" if pause > 0
             else "not paused")
    return (f"budget: {rt.budget.used(60)} of {limit} calls used in the last minute "
            f"(this key, all replicas on this database); {state}")


def connection_problems(rt: Runtime, out: list[str]) -> list[str]:
    """Each long connection opened once, layer by layer (DNS → TCP → TLS → auth → WebSocket →
    subscription); a failing layer is a problem in the platform's own words."""
    problems = []
    for platform in PLATFORMS:
        for link in platform.links(rt) if platform.links else []:
            for layer, ok, words in check_link(link):
                words = rt.redact(words)
                out.append(f"connection {link.platform}: {layer} {'ok' if ok else 'FAILED'}: "
                           f"{words}")
                if not ok:
                    problems.append(f"connection {link.platform}: {layer} failed: {words}")
    return problems


def run_check() -> int:
    settings = load_settings()
    settings.require("guance_api_key")
    settings.routing()
    rt = Runtime(settings)  # the card template, bot secrets and the database, as `relay run`
    try:
        path = config_path()
        out = [f"settings: ok (config file: {path or 'none'}; database "
               f"{settings.database_url.split('://')[0]} migrated)"]
        problems = guance_problems(rt, out)
        out.append(budget_line(rt))
        out += destination_lines(rt)
        problems += connection_problems(rt, out)
        warnings = [w for p in PLATFORMS if p.warnings for w in p.warnings(rt)]
        warnings += [w for w in (exposed_config_file(),) if w]
    finally:
        rt.close()
    for line in out:
        print(line)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"check: {len(problems)} problem(s)" if problems else
          "check: OK (relay send-test NAME sends a test card to one destination)")
    return 1 if problems else 0
