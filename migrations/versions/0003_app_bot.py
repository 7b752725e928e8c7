"""Feishu app bot: the card's message_id on deliveries, accepted Feishu events, Guance replies
relay knows, and when each issue's replies were last checked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("message_id", sa.String(128)))
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])
    op.create_table(
        "feishu_events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("event_type", sa.String(128), nullable=False, server_default=""),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", sa.BigInteger()),
        sa.Column("outcome", sa.Text()),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_feishu_events_due", "feishu_events", ["status", "next_attempt_at"])
    op.create_table(
        "issue_replies",
        sa.Column("reply_uuid", sa.String(128), primary_key=True),
        sa.Column("issue_uuid", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_issue_replies_issue_uuid", "issue_replies", ["issue_uuid"])
    op.create_table(
        "reply_checks",
        sa.Column("issue_uuid", sa.String(64), primary_key=True),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reply_checks")
    op.drop_index("ix_issue_replies_issue_uuid", table_name="issue_replies")
    op.drop_table("issue_replies")
    op.drop_index("ix_feishu_events_due", table_name="feishu_events")
    op.drop_table("feishu_events")
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("message_id")
