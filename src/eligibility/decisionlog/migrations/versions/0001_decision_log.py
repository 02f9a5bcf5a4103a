"""The decision log, its rule set snapshots and their files (issue 17).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "decision_log",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sa.Column("decision_id", sa.String(36), nullable=False, unique=True),
        sa.Column("salt", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("record_id", sa.Text, nullable=True),
        sa.Column("entity", sa.Text, nullable=True),
        sa.Column("on_date", sa.String(10), nullable=True),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("form", sa.String(16), nullable=True),
        sa.Column("ruleset_sha", sa.String(64), nullable=True),
        sa.Column("ruleset_name", sa.String(200), nullable=True),
        sa.Column("ruleset_version", sa.String(64), nullable=True),
        sa.Column("overlays", sa.Text, nullable=True),
        sa.Column("user_name", sa.Text, nullable=True),
        sa.Column("aktenzeichen", sa.Text, nullable=True),
        sa.Column("facts", sa.Text, nullable=True),
        sa.Column("decision", sa.Text, nullable=True),
        sa.Column("outcomes", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("erased_by", _SEQ, nullable=True),
        sa.Column("public_sha", sa.String(64), nullable=False),
        sa.Column("content_sha", sa.String(64), nullable=False),
        sa.Column("prev_sha", sa.String(64), nullable=False),
        sa.Column("entry_sha", sa.String(64), nullable=False),
    )
    op.create_index("ix_decision_log_record", "decision_log", ["record_id", "seq"])
    op.create_index("ix_decision_log_created", "decision_log", ["created_at"])
    op.create_table(
        "ruleset_snapshots",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "rule_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_files")
    op.drop_table("ruleset_snapshots")
    op.drop_index("ix_decision_log_created", "decision_log")
    op.drop_index("ix_decision_log_record", "decision_log")
    op.drop_table("decision_log")
