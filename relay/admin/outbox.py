"""The outbox from the command line: `relay migrate`, `relay deliveries`, `relay redeliver`.
They need no API key or webhook, only the database."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

from relay.config import Settings, load_settings
from relay.store.base import make_engine, migrate
from relay.store import outbox
from relay.store.outbox import list_deliveries


def store_engine(settings: Settings):
    """The database, migrated."""
    engine = make_engine(settings.database_url, settings.database_busy_timeout)
    migrate(engine)
    return engine


def cmd_deliveries(args: argparse.Namespace) -> int:
    settings = load_settings()
    rows = list_deliveries(store_engine(settings), args.status, args.limit)
    tz = settings.tz
    header = ("ID", "STATUS", "TRIES", "QUEUED", "DESTINATION", "CHANNEL", "ISSUE", "LAST ERROR")
    table = [header] + [(str(r.id), r.status, str(r.attempts),
                         datetime.fromtimestamp(r.created_at, tz).strftime("%m-%d %H:%M:%S"),
                         r.destination, r.channel, r.issue_uuid or r.dedupe_key,
                         (r.last_error or "")[:60])
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    if not rows:
        print("(no deliveries" + (f" with status {args.status})" if args.status else ")"))
    return 0


def cmd_redeliver(args: argparse.Namespace) -> int:
    if bool(args.ids) == args.dead:
        print("relay redeliver: give delivery IDs or --dead (not both)", file=sys.stderr)
        return 2
    count = outbox.requeue(store_engine(load_settings()), int(time.time()), ids=args.ids,
                           dead=args.dead)
    print(f"redeliver: {count} deliveries queued again; the next deliver run sends them")
    return 0 if count or args.dead else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    store_engine(settings)
    print(f"relay: database is up to date ({settings.database_url.split('://')[0]})")
    return 0
