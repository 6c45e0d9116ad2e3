"""triggers: hook options and secret rotation, a ledger of every delivery, schedules,
file watches, expectations

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

ACCEPTED_ONLY = sa.text("status != 'ignored'")


def upgrade() -> None:
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("workflow_names", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("previous_secrets", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column(
                "verification", sa.String(length=20), nullable=False, server_default="lockgate"
            )
        )
        batch_op.add_column(sa.Column("filters", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("delivery_id_header", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_body_bytes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_trigger_events_source", type_="unique")
        batch_op.add_column(sa.Column("replay_of_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of_id", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_trigger_events_replay_of_id"), ["replay_of_id"], unique=False
        )
    op.create_index(
        "uq_trigger_events_accepted",
        "trigger_events",
        ["source", "source_name", "dedupe_key", "workflow_id"],
        unique=True,
        sqlite_where=ACCEPTED_ONLY,
        postgresql_where=ACCEPTED_ONLY,
    )

    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.String(length=32), nullable=False),
        sa.Column("workflow_name", sa.String(length=100), nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("expression", sa.String(length=200), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=10), nullable=True),
        sa.Column("anchor_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("definition_paused", sa.Boolean(), nullable=False),
        sa.Column("paused_override", sa.Boolean(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("misfire_policy", sa.String(length=20), nullable=True),
        sa.Column("misfire_limit", sa.Integer(), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_schedules_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_schedules_workflow_id")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_next_fire_at"), ["next_fire_at"])
        batch_op.create_index(batch_op.f("ix_schedules_paused"), ["paused"])

    op.create_table(
        "file_watches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.String(length=32), nullable=False),
        sa.Column("workflow_name", sa.String(length=100), nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("suffix", sa.String(length=100), nullable=True),
        sa.Column("glob", sa.String(length=200), nullable=True),
        sa.Column("trigger_on_overwrite", sa.Boolean(), nullable=False),
        sa.Column("min_time_between_triggers_seconds", sa.Integer(), nullable=False),
        sa.Column("wait_after_last_change_seconds", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("initialized", sa.Boolean(), nullable=False),
        sa.Column("checkpoint_name", sa.Text(), nullable=True),
        sa.Column("pending_files", sa.JSON(), nullable=False),
        sa.Column("last_change_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_triggered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_file_watches_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_watches")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_file_watches_workflow_id")),
    )

    op.create_table(
        "seen_blobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("watch_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("etag", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["watch_id"],
            ["file_watches.id"],
            name=op.f("fk_seen_blobs_watch_id_file_watches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_blobs")),
        sa.UniqueConstraint("watch_id", "name", name=op.f("uq_seen_blobs_watch_id")),
    )

    op.create_table(
        "expectations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("workflow_name", sa.String(length=100), nullable=True),
        sa.Column("deadline_cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("next_deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=10), nullable=True),
        sa.Column("last_detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expectations")),
        sa.UniqueConstraint("name", name=op.f("uq_expectations_name")),
    )
    with op.batch_alter_table("expectations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expectations_next_deadline_at"), ["next_deadline_at"])


def downgrade() -> None:
    op.drop_table("expectations")
    op.drop_table("seen_blobs")
    op.drop_table("file_watches")
    op.drop_table("schedules")
    op.drop_index("uq_trigger_events_accepted", table_name="trigger_events")
    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_events_replay_of_id"))
        batch_op.drop_column("duplicate_of_id")
        batch_op.drop_column("replay_of_id")
        batch_op.create_unique_constraint(
            "uq_trigger_events_source", ["source", "source_name", "dedupe_key"]
        )
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        for column in (
            "secret_rotated_at",
            "disabled_at",
            "max_body_bytes",
            "rate_limit_per_minute",
            "delivery_id_header",
            "filters",
            "verification",
            "previous_secrets",
            "workflow_names",
        ):
            batch_op.drop_column(column)
