"""Polling: where a read the call budget stopped part-way goes on (its window and next page),
and why a watched channel could not be looked up (shown on /healthz).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_cursors") as batch:
        batch.add_column(sa.Column("window_start", sa.BigInteger()))
        batch.add_column(sa.Column("window_end", sa.BigInteger()))
        batch.add_column(sa.Column("window_page", sa.Integer()))
        batch.add_column(sa.Column("window_received", sa.Integer()))
    op.create_table(
        "watch_errors",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("watch_errors")
    with op.batch_alter_table("channel_cursors") as batch:
        batch.drop_column("window_received")
        batch.drop_column("window_page")
        batch.drop_column("window_end")
        batch.drop_column("window_start")
