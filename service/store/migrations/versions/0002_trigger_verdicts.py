"""trigger verdicts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:42:49.150020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verdict", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("verdict_reason", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_trigger_events_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trigger_events_verdict"), ["verdict"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_events_verdict"))
        batch_op.drop_index(batch_op.f("ix_trigger_events_received_at"))
        batch_op.drop_column("verdict_reason")
        batch_op.drop_column("verdict")
