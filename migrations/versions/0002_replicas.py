"""Replicas on one database: work leases, the shared Guance call budget, and the reply log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # who polls a channel / sends to a destination now, and until when (relay.leases)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    # one row per API key (a hash, never the key): its lock and rate-limit pause
    op.create_table(
        "guance_budget",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("blocked_until", sa.Float(), nullable=False, server_default="0"),
    )
    # calls granted per key and second in the current window, by every replica
    # (relay.shared_budget)
    op.create_table(
        "guance_calls",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("second", sa.BigInteger(), primary_key=True),
        sa.Column("calls", sa.Integer(), nullable=False),
    )
    # what the reply endpoint was asked and answered (the delivery log page shows it)
    op.create_table(
        "replies",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("issue_uuid", sa.String(64)),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_replies_received_at", "replies", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_replies_received_at", table_name="replies")
    op.drop_table("replies")
    op.drop_table("guance_calls")
    op.drop_table("guance_budget")
    op.drop_table("leases")
