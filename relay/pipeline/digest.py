"""The storm digest: one card standing for a storm of new issues in one channel."""

from __future__ import annotations

import hashlib
from collections import Counter

from relay.guance import Channel
from relay.i18n import UNKNOWN_LEVEL, Text
from relay.payloads import StormDigest


def storm_digest(new_rows: list[dict], channel: Channel, now: int, threshold: int,
                 titles: int, text: Text) -> StormDigest | None:
    """One card standing for more than `threshold` new issues of one poll, or None.

    A storm of hundreds of cards would bury the group and take Feishu's 100-a-minute limit for
    many minutes; one card with the counts and the first titles says the same at once. It has
    an issue card's fields, so every sink renders it as one; its texts are written in
    RELAY_LANGUAGE when it is queued."""
    if len(new_rows) <= threshold:
        return None
    new_rows = sorted(new_rows, key=lambda r: r["issue_created_at"])  # oldest first
    payloads = [r["payload"] for r in new_rows]
    levels = Counter(str(p.get("level") or UNKNOWN_LEVEL) for p in payloads)
    worst = min(levels, key=level_rank)
    uuids = [p["uuid"] for p in payloads]
    # unique per channel, second and set of issues; within the 64 characters of a dedupe key
    digest_id = "digest_{}_{}_{}".format(channel.uuid[:32], now, hashlib.sha1(
        "\n".join(uuids).encode()).hexdigest()[:8])
    counts = ", ".join(f"{text.level(lvl)} ×{levels[lvl]}" for lvl in sorted(levels, key=level_rank))
    lines = [text("digest.counts", count=len(payloads), levels=counts)]
    lines += [f"- [{text.level(str(p.get('level') or ''))}] {p.get('title')} ({p['uuid']})"
              for p in payloads[:titles]]
    if len(payloads) > titles:
        lines.append(text("digest.more", count=len(payloads) - titles))
    newest = new_rows[-1]["issue_created_at"]
    return StormDigest(
        uuid=digest_id, title=text("digest.title", count=len(payloads), channel=channel.name),
        level=worst, source=text("digest.source"), message="\n".join(lines), create_at=newest,
        channel=channel.name, issues=uuids)


def level_rank(level: str) -> tuple[int, str]:
    """P0 is the most severe, then P1, P2, then any other level."""
    return ({"P0": 0, "P1": 1, "P2": 2}.get(level, 3), level)
