"""Self-service subscriptions: a status (pending until the address confirms) and the
confirmation's nonce and times; also merges the two heads made in parallel (0010, 0011)

Revision ID: 0012
Revises: 0010, 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = ("0010", "0011")
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing subscription was made by an operator through the API: it stays active.
    with op.batch_alter_table("alert_subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("confirm_nonce", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("confirm_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("requested_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("requested_by")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("confirm_sent_at")
        batch_op.drop_column("confirm_nonce")
        batch_op.drop_column("status")
