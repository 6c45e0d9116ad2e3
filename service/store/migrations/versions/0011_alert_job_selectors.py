"""alert subscriptions that name Databricks jobs: job ids or names, and job tags

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing subscriptions name no jobs: they keep hearing exactly what they heard.
    with op.batch_alter_table("alert_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jobs", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("job_tags", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("alert_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("job_tags")
        batch_op.drop_column("jobs")
