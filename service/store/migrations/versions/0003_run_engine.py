"""run engine: attempts, retry waits, deadlines, cancels, task durations

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_attempts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("databricks_run_id", sa.BigInteger(), nullable=True),
        sa.Column("repair_id", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("life_cycle_state", sa.String(length=40), nullable=True),
        sa.Column("result_state", sa.String(length=40), nullable=True),
        sa.Column("termination_code", sa.String(length=60), nullable=True),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_attempts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_attempts")),
        sa.UniqueConstraint("run_id", "attempt", name=op.f("uq_run_attempts_run_id")),
    )
    with op.batch_alter_table("run_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_attempts_run_id"), ["run_id"], unique=False)

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retry_mode", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("latest_repair_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("cancel_reason", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("workspace", sa.String(length=100), server_default="default", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_runs_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duration_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("termination_code", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_column("termination_code")
        batch_op.drop_column("duration_ms")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_next_attempt_at"))
        batch_op.drop_column("workspace")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancel_requested_at")
        batch_op.drop_column("deadline_at")
        batch_op.drop_column("latest_repair_id")
        batch_op.drop_column("retry_mode")
        batch_op.drop_column("next_attempt_at")
    with op.batch_alter_table("run_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_attempts_run_id"))
    op.drop_table("run_attempts")
