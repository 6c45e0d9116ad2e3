"""Job-completion triggers: their spec, runtime state and upstream lookup rows

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "completion_triggers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.String(length=32), nullable=False),
        sa.Column("workflow_name", sa.String(length=100), nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("if_status", sa.String(length=10), nullable=False),
        sa.Column("condition", sa.String(length=3), nullable=False),
        sa.Column("min_time_between_triggers_seconds", sa.Integer(), nullable=False),
        sa.Column("workspace", sa.String(length=100), nullable=False),
        sa.Column("upstreams", sa.JSON(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("consumed", sa.JSON(), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_completion_triggers_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completion_triggers")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_completion_triggers_workflow_id")),
    )
    op.create_index(
        op.f("ix_completion_triggers_due_at"), "completion_triggers", ["due_at"], unique=False
    )
    op.create_table(
        "completion_trigger_upstreams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("trigger_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["completion_triggers.id"],
            name=op.f("fk_completion_trigger_upstreams_trigger_id_completion_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completion_trigger_upstreams")),
    )
    op.create_index(
        "ix_completion_trigger_upstreams_kind_value",
        "completion_trigger_upstreams",
        ["kind", "value"],
        unique=False,
    )
    op.create_index(
        op.f("ix_completion_trigger_upstreams_trigger_id"),
        "completion_trigger_upstreams",
        ["trigger_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_completion_trigger_upstreams_trigger_id"),
        table_name="completion_trigger_upstreams",
    )
    op.drop_index(
        "ix_completion_trigger_upstreams_kind_value", table_name="completion_trigger_upstreams"
    )
    op.drop_table("completion_trigger_upstreams")
    op.drop_index(op.f("ix_completion_triggers_due_at"), table_name="completion_triggers")
    op.drop_table("completion_triggers")
