"""audit chain start

The audit head (storage/audit.py) records where the kept chain starts: the first kept
entry's seq and the prev_hash it carries, so that entries removed from the start outside
retention are detected. Existing heads get the current first entry's, or, when no entry
is left, the next entry to be appended (seq 1 and the genesis hash on an empty chain).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILL = (
    "UPDATE audit_head SET"
    " first_seq = COALESCE((SELECT seq FROM audit_log ORDER BY seq LIMIT 1), seq + 1),"
    " first_prev_hash = COALESCE((SELECT prev_hash FROM audit_log ORDER BY seq LIMIT 1), hash)"
)


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("first_prev_hash", sa.String(length=64), nullable=True))

    op.execute(_FILL)
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.alter_column("first_seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("first_prev_hash", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("first_prev_hash")
        batch_op.drop_column("first_seq")
