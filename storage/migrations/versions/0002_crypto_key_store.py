"""crypto key store

Tables owned by crypto/models.py: mailbox key generations and the CA's CRL state.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ca_crl",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", storage.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("next_update", storage.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_crl")),
    )
    op.create_table(
        "mailbox_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", storage.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", storage.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("not_after", storage.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("smime_serial", sa.String(length=48), nullable=False),
        sa.Column("smime_cert_pem", sa.Text(), nullable=False),
        sa.Column("smime_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("openpgp_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("openpgp_public", sa.Text(), nullable=False),
        sa.Column("openpgp_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'retired', 'revoked')",
            name=op.f("ck_mailbox_keys_status_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_keys")),
        sa.UniqueConstraint("smime_serial", name=op.f("uq_mailbox_keys_smime_serial")),
    )
    with op.batch_alter_table("mailbox_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailbox_keys_address"), ["address"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mailbox_keys_openpgp_fingerprint"), ["openpgp_fingerprint"], unique=False
        )
        batch_op.create_index(
            "uq_mailbox_keys_one_active",
            ["address"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("mailbox_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_mailbox_keys_one_active")
        batch_op.drop_index(batch_op.f("ix_mailbox_keys_openpgp_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_mailbox_keys_address"))
    op.drop_table("mailbox_keys")
    op.drop_table("ca_crl")
