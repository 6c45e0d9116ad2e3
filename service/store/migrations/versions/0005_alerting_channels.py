"""alerting: channels, subscriptions, attempt history; deliveries without a run, with
dedupe and throttle keys

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_channels_name")),
    )
    op.create_table(
        "alert_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("workflows", sa.JSON(), nullable=False),
        sa.Column("workflow_tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["alert_channels.id"],
            name=op.f("fk_alert_subscriptions_channel_id_alert_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_subscriptions")),
    )
    with op.batch_alter_table("alert_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_subscriptions_channel_id"), ["channel_id"], unique=False
        )

    # Existing deliveries keep their identity: their own id becomes their dedupe key.
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("alert_key", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("workflow_name", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("format", sa.String(length=20), nullable=False, server_default="generic")
        )
        batch_op.add_column(sa.Column("channel_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("subscription_id", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("unsent_occurrences", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("last_occurrence_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("folded_into_id", sa.String(length=32), nullable=True))
    op.execute("UPDATE alert_deliveries SET dedupe_key = id, last_occurrence_at = created_at")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.alter_column("dedupe_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column(
            "last_occurrence_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        # Events such as trigger.rejected have no run.
        batch_op.alter_column("run_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.drop_constraint("uq_alert_deliveries_run_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_alert_deliveries_dedupe_key"), ["dedupe_key"]
        )
        batch_op.create_index(batch_op.f("ix_alert_deliveries_alert_key"), ["alert_key"])
        batch_op.create_index(batch_op.f("ix_alert_deliveries_run_id"), ["run_id"])
        batch_op.create_index(batch_op.f("ix_alert_deliveries_workflow_name"), ["workflow_name"])

    op.create_table(
        "alert_attempts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["alert_deliveries.id"],
            name=op.f("fk_alert_attempts_delivery_id_alert_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_attempts")),
    )
    with op.batch_alter_table("alert_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_attempts_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_attempts_delivery_id"))
    op.drop_table("alert_attempts")
    # Deliveries without a run cannot go back to a schema that requires one.
    op.execute("DELETE FROM alert_deliveries WHERE run_id IS NULL")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_workflow_name"))
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_run_id"))
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_alert_key"))
        batch_op.drop_constraint("uq_alert_deliveries_dedupe_key", type_="unique")
        batch_op.alter_column("run_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column("folded_into_id")
        batch_op.drop_column("last_occurrence_at")
        batch_op.drop_column("unsent_occurrences")
        batch_op.drop_column("occurrences")
        batch_op.drop_column("subscription_id")
        batch_op.drop_column("channel_name")
        batch_op.drop_column("format")
        batch_op.drop_column("workflow_name")
        batch_op.drop_column("alert_key")
        batch_op.drop_column("dedupe_key")
    with op.batch_alter_table("alert_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_subscriptions_channel_id"))
    op.drop_table("alert_subscriptions")
    op.drop_table("alert_channels")
