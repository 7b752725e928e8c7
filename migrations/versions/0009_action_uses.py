"""Issue actions from chat: the signed links used and the Feishu card clicks taken, once each;
mutes (`/mute 2h`).

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_uses",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("issue_uuid", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.Text()),
    )
    op.create_index("ix_action_uses_used_at", "action_uses", ["used_at"])
    op.create_table(
        "mutes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("issue_uuid", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("until", sa.BigInteger(), nullable=False),
        sa.Column("summarized_at", sa.BigInteger()),
    )
    op.create_index("ix_mutes_until", "mutes", ["until"])


def downgrade() -> None:
    op.drop_index("ix_mutes_until", table_name="mutes")
    op.drop_table("mutes")
    op.drop_index("ix_action_uses_used_at", table_name="action_uses")
    op.drop_table("action_uses")
