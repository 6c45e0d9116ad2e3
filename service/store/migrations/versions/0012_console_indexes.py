"""Console: indexes for paging runs newest first, overall and per workflow

Revision ID: 0012_console
Revises: 0009

A branch of its own beside the other work made in parallel (the next merge revision
joins it); the id names the branch so that it cannot collide with a numbered one.
"""

from __future__ import annotations

from alembic import op

revision = "0012_console"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_requested_at_id", "runs", ["requested_at", "id"])
    op.create_index(
        "ix_runs_workflow_id_requested_at_id", "runs", ["workflow_id", "requested_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_runs_workflow_id_requested_at_id", table_name="runs")
    op.drop_index("ix_runs_requested_at_id", table_name="runs")
