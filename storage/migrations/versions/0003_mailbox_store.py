"""mailbox store

Tables owned by mailserver/store/models.py (IMAP folders, messages and sealed blobs).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_mailboxes",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("last_uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_store_mailboxes_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_store_mailboxes")),
    )
    op.create_table(
        "store_blobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_header", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["store_mailboxes.mailbox_id"],
            name=op.f("fk_store_blobs_mailbox_id_store_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_blobs")),
    )
    with op.batch_alter_table("store_blobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_store_blobs_mailbox_id"), ["mailbox_id"], unique=False)

    op.create_table(
        "store_folders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uidnext", sa.BigInteger(), nullable=False),
        sa.Column("highestmodseq", sa.BigInteger(), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("special_use", sa.String(length=16), nullable=True),
        sa.Column("created_at", storage.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["store_mailboxes.mailbox_id"],
            name=op.f("fk_store_folders_mailbox_id_store_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_folders")),
        sa.UniqueConstraint("mailbox_id", "name", name="uq_store_folders_name"),
    )
    with op.batch_alter_table("store_folders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_store_folders_mailbox_id"), ["mailbox_id"], unique=False
        )

    op.create_table(
        "store_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "folder_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("blob_id", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("internal_date", storage.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("system_flags", sa.Integer(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["store_blobs.id"], name=op.f("fk_store_messages_blob_id_store_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["store_folders.id"],
            name=op.f("fk_store_messages_folder_id_store_folders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_messages")),
        sa.UniqueConstraint("folder_id", "uid", name="uq_store_messages_uid"),
    )
    with op.batch_alter_table("store_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_store_messages_blob_id"), ["blob_id"], unique=False)
        batch_op.create_index(
            "ix_store_messages_folder_modseq", ["folder_id", "modseq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("store_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_store_messages_folder_modseq")
        batch_op.drop_index(batch_op.f("ix_store_messages_blob_id"))

    op.drop_table("store_messages")
    with op.batch_alter_table("store_folders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_store_folders_mailbox_id"))

    op.drop_table("store_folders")
    with op.batch_alter_table("store_blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_store_blobs_mailbox_id"))

    op.drop_table("store_blobs")
    op.drop_table("store_mailboxes")
