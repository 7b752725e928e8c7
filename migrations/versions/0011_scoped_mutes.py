"""Mutes scoped to the chat that muted (issue 22.5): each mute names the destinations it covers,
what people call its source (`label`; `resource` is now the key a card is matched by: the
monitor or check id, else the resource), and whether it holds P0 cards too.

An old mute covered every destination, another team's P0 included, and nobody else was told.
Such a mute still running is ended here (its `until` becomes the upgrade's time) rather than
made to cover every destination: keeping it would keep the very behaviour this release removes.
Its summary still goes out as before, at the next deliver run, to each destination whose cards
it held (found here from the deliveries it marked `muted`), so nothing it held is lost; the team
that muted mutes again in one command, now for its own chat only.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
import time

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

mutes = sa.table("mutes", sa.column("id", sa.BigInteger()), sa.column("resource", sa.String(255)),
                 sa.column("created_at", sa.BigInteger()), sa.column("until", sa.BigInteger()),
                 sa.column("summarized_at", sa.BigInteger()), sa.column("label", sa.String(255)),
                 sa.column("destinations", sa.JSON()), sa.column("include_p0", sa.Boolean()))
deliveries = sa.table("deliveries", sa.column("destination", sa.String(255)),
                      sa.column("status", sa.String(16)), sa.column("updated_at", sa.BigInteger()),
                      sa.column("payload", sa.JSON()))


def held_by(conn: sa.Connection, resource: str, start: int, until: int) -> list[str]:
    """The destinations whose cards of `resource` an old mute held back (as its summary finds)."""
    rows = conn.execute(sa.select(deliveries.c.destination, deliveries.c.payload).where(
        deliveries.c.status == "muted", deliveries.c.updated_at >= start,
        deliveries.c.updated_at <= until)).all()
    return sorted({d for d, payload in rows
                   if isinstance(payload, dict) and payload.get("source") == resource})


def upgrade() -> None:
    with op.batch_alter_table("mutes") as batch:
        batch.add_column(sa.Column("label", sa.String(255)))
        batch.add_column(sa.Column("destinations", sa.JSON()))
        batch.add_column(sa.Column("include_p0", sa.Boolean()))
    conn = op.get_bind()
    now = int(time.time())
    for mute_id, resource, start, until, summarized in conn.execute(sa.select(
            mutes.c.id, mutes.c.resource, mutes.c.created_at, mutes.c.until,
            mutes.c.summarized_at)).all():
        ended = until if summarized is not None else min(until, now)
        covered = [] if summarized is not None else held_by(conn, resource, start, ended)
        conn.execute(mutes.update().where(mutes.c.id == mute_id).values(
            label=resource, destinations=covered, include_p0=False, until=ended))
    with op.batch_alter_table("mutes") as batch:
        batch.alter_column("label", existing_type=sa.String(255), nullable=False)
        batch.alter_column("destinations", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("include_p0", existing_type=sa.Boolean(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("mutes") as batch:
        batch.drop_column("include_p0")
        batch.drop_column("destinations")
        batch.drop_column("label")
