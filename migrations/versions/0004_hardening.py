"""Hardening: signatures already used (DingTalk replays); who sent each logged reply.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "used_signatures",
        sa.Column("sign", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_used_signatures_expires_at", "used_signatures", ["expires_at"])
    with op.batch_alter_table("replies") as batch:
        batch.add_column(sa.Column("sender", sa.String(128)))
    op.create_index("ix_replies_sender", "replies", ["sender", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_replies_sender", table_name="replies")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("sender")
    op.drop_index("ix_used_signatures_expires_at", table_name="used_signatures")
    op.drop_table("used_signatures")
