"""The decision log's tables, in SQLAlchemy Core: one schema for SQLite and PostgreSQL.

Times and dates are ISO 8601 text, so that an entry's hash is computed from the same bytes
whatever the database (and sorts as it reads). The migrations in `migrations/versions` create
exactly these tables; a test compares the two."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

# One row per entry of the append-only chain: a decision, an erasure or a retention sweep.
# Personal columns (record_id ... outcomes) are emptied by an erasure; the chain columns stay,
# so that the chain still verifies and shows that, when and how much was erased.
entries = Table(
    "decision_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("decision_id", String(36), nullable=False, unique=True),
    Column("salt", String(32), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("record_id", Text, nullable=True),
    Column("entity", Text, nullable=True),
    Column("on_date", String(10), nullable=True),
    Column("source", String(16), nullable=True),
    Column("form", String(16), nullable=True),
    Column("ruleset_sha", String(64), nullable=True),
    Column("ruleset_name", String(200), nullable=True),
    Column("ruleset_version", String(64), nullable=True),
    Column("overlays", Text, nullable=True),
    Column("user_name", Text, nullable=True),
    Column("aktenzeichen", Text, nullable=True),
    Column("facts", Text, nullable=True),
    Column("decision", Text, nullable=True),
    Column("outcomes", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("erased_by", BigInteger().with_variant(Integer, "sqlite"), nullable=True),
    Column("public_sha", String(64), nullable=False),
    Column("content_sha", String(64), nullable=False),
    Column("prev_sha", String(64), nullable=False),
    Column("entry_sha", String(64), nullable=False),
    # The chain format the entry's hashes were made in (`chain.FORMAT`; migration 0002).
    Column("chain_format", Integer, nullable=False, server_default="1"),
)
Index("ix_decision_log_record", entries.c.record_id, entries.c.seq)
Index("ix_decision_log_created", entries.c.created_at)

# Rule set snapshots, content-addressed: a rule set by its hash lists its files, each file
# stored once by its own hash (versions share most files).
rulesets = Table(
    "ruleset_snapshots",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("version", String(64), nullable=False),
    Column("files", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

rule_files = Table(
    "rule_files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)
