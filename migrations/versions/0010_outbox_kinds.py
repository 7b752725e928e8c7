"""Typed outbox rows: `kind` says what a row carries, `dedupe_key` makes it unique per
destination, and `issue_uuid` holds only the issue a row is about (NULL for a storm digest, its
follow-up and a mute summary).

Rows of 0009 are converted by what their payload says, as the release before wrote them:
kind "status", "digest_status", "digest", "mute_summary" in the payload, a reminder by its
`reminder` number, any other row an issue's card. The old `issue_uuid` becomes the dedupe key
unchanged, so nothing queued before the upgrade is queued again after it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# what the release before wrote in a payload's "kind" (an issue's card and a reminder had none)
OLD_KINDS = {"status", "digest_status", "digest", "mute_summary"}
ABOUT_NO_ISSUE = {"digest_status", "digest", "mute_summary"}

deliveries = sa.table("deliveries", sa.column("id", sa.BigInteger()),
                      sa.column("issue_uuid", sa.String(64)), sa.column("payload", sa.JSON()),
                      sa.column("kind", sa.String(16)), sa.column("dedupe_key", sa.String(64)))


def kind_of(payload: object) -> str:
    payload = payload if isinstance(payload, dict) else {}
    if payload.get("kind") in OLD_KINDS:
        return str(payload["kind"])
    return "reminder" if payload.get("reminder") else "issue"


def converted(row_id: int, key: str, payload: object) -> dict:
    """One old row's new columns: its kind, its key (the old issue_uuid) and its issue."""
    kind = kind_of(payload)
    issue: str | None = key  # an issue's card was keyed by its issue
    if kind in ABOUT_NO_ISSUE:
        issue = None
    elif kind in ("status", "reminder"):  # keyed `…~20~…`, `st~<sha1>`, `r1_…`: the payload knows
        issue = str(payload.get("uuid") or key)  # type: ignore[union-attr]
    return {"row_id": row_id, "new_kind": kind, "new_key": key, "new_issue": issue}


def each_batch(conn: sa.Connection, columns: list, update: sa.Update) -> None:
    """Run `update` for every row, 1,000 rows at a time (bounded memory for any outbox)."""
    last = 0
    while True:
        rows = conn.execute(sa.select(deliveries.c.id, *columns).where(deliveries.c.id > last)
                            .order_by(deliveries.c.id).limit(1000)).all()
        if not rows:
            return
        conn.execute(update, [converted(*row) for row in rows])
        last = rows[-1][0]


ROW = deliveries.c.id == sa.bindparam("row_id")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("kind", sa.String(16)))
        batch.add_column(sa.Column("dedupe_key", sa.String(64)))
    conn = op.get_bind()
    each_batch(conn, [deliveries.c.issue_uuid, deliveries.c.payload],
               deliveries.update().where(ROW).values(kind=sa.bindparam("new_kind"),
                                                     dedupe_key=sa.bindparam("new_key")))
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("kind", existing_type=sa.String(16), nullable=False)
        batch.alter_column("dedupe_key", existing_type=sa.String(64), nullable=False)
        batch.alter_column("issue_uuid", existing_type=sa.String(64), nullable=True)
        batch.drop_constraint("uq_deliveries_issue_destination", type_="unique")
        batch.create_unique_constraint("uq_deliveries_key_destination",
                                       ["dedupe_key", "destination"])
    # only now may two rows (a card and its reminder) name the same issue
    each_batch(conn, [deliveries.c.dedupe_key, deliveries.c.payload],
               deliveries.update().where(ROW).values(issue_uuid=sa.bindparam("new_issue")))
    op.create_index("ix_deliveries_issue_uuid", "deliveries", ["issue_uuid"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_issue_uuid", table_name="deliveries")
    conn = op.get_bind()
    conn.execute(deliveries.update().values(issue_uuid=deliveries.c.dedupe_key))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_key_destination", type_="unique")
        batch.create_unique_constraint("uq_deliveries_issue_destination",
                                       ["issue_uuid", "destination"])
        batch.alter_column("issue_uuid", existing_type=sa.String(64), nullable=False)
        batch.drop_column("dedupe_key")
        batch.drop_column("kind")
