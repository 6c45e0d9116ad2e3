"""Workspace watcher: its checkpoints, and ledger events without a workflow

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ACCEPTED_ONLY = sa.text("status != 'ignored'")
WITHOUT_WORKFLOW = sa.text("workflow_id IS NULL")


def upgrade() -> None:
    op.create_table(
        "workspace_watches",
        sa.Column("workspace", sa.String(length=100), nullable=False),
        sa.Column("checkpoint_ms", sa.BigInteger(), nullable=False),
        sa.Column("seen", sa.JSON(), nullable=False),
        sa.Column("long_running", sa.JSON(), nullable=False),
        sa.Column("last_pass_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", name=op.f("pk_workspace_watches")),
    )
    # SQLite rebuilds the table to change a column; the partial index is dropped around it
    # so that it comes back with its WHERE clause.
    op.drop_index("uq_trigger_events_accepted", table_name="trigger_events")
    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.alter_column("workflow_id", existing_type=sa.String(length=32), nullable=True)
    _create_partial_indexes()


def downgrade() -> None:
    op.execute("DELETE FROM trigger_events WHERE workflow_id IS NULL")
    op.drop_index("uq_trigger_events_observed", table_name="trigger_events")
    op.drop_index("uq_trigger_events_accepted", table_name="trigger_events")
    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.alter_column("workflow_id", existing_type=sa.String(length=32), nullable=False)
    _create_accepted_index()
    op.drop_table("workspace_watches")


def _create_accepted_index() -> None:
    op.create_index(
        "uq_trigger_events_accepted",
        "trigger_events",
        ["source", "source_name", "dedupe_key", "workflow_id"],
        unique=True,
        sqlite_where=ACCEPTED_ONLY,
        postgresql_where=ACCEPTED_ONLY,
    )


def _create_partial_indexes() -> None:
    _create_accepted_index()
    op.create_index(
        "uq_trigger_events_observed",
        "trigger_events",
        ["source", "source_name", "dedupe_key"],
        unique=True,
        sqlite_where=WITHOUT_WORKFLOW,
        postgresql_where=WITHOUT_WORKFLOW,
    )
