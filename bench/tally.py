"""Counting what arrived: lost and repeated issues, with storm digests expanded.

A digest card stands for many issues; which ones is recorded on relay's own outbox row (the card
lists only the first few titles), so cards are expanded through the outbox before counting."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.payloads import DIGEST
from relay.store import outbox as store


def digest_members(engine) -> dict[str, list[str]]:
    """Digest card id → the issues it covers, from relay's outbox."""
    with Session(engine) as session:
        rows = session.scalars(select(store.Delivery).where(store.Delivery.kind == DIGEST))
        return {r.dedupe_key: r.card().issues for r in rows}


def tally(expected: set[tuple[str, str]], cards: list[tuple[str, str]],
          digests: dict[str, list[str]] | None = None) -> dict:
    """`expected` and `cards` are (hook, issue_uuid) pairs; returns cards, issues covered,
    lost and repeated (an issue covered n > 1 times at one hook counts n − 1 repeats)."""
    digests = digests or {}
    covered: Counter = Counter()
    for hook, uuid in cards:
        for issue in digests.get(uuid, [uuid]):
            covered[(hook, issue)] += 1
    return {"cards": len(cards), "covered": len(set(covered) & expected),
            "lost": len(expected - set(covered)),
            "repeated": sum(n - 1 for pair, n in covered.items() if pair in expected)}
