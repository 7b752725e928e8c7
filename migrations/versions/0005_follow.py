"""Cards that follow the issue: the last known state of each relayed issue and the tracker's
sweep position.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_states",
        sa.Column("issue_uuid", sa.String(64), primary_key=True),
        sa.Column("status_type", sa.Integer(), nullable=False),
        sa.Column("managers", sa.JSON(), nullable=False),
        sa.Column("updator", sa.Text(), nullable=False),
        sa.Column("update_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_issue_states_created_at", "issue_states", ["created_at"])
    op.create_table(
        "follow_sweeps",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("recent_at", sa.BigInteger()),
        sa.Column("window_on_update", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("follow_sweeps")
    op.drop_index("ix_issue_states_created_at", table_name="issue_states")
    op.drop_table("issue_states")
