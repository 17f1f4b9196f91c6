"""held deliveries

The `held` delivery status (mailserver/queue/models.py): a message whose deliveries wait
for an administrator (gateway.consistency "hold"). Only the status CHECK constraint
changes. SQLite rebuilds the table to change a constraint, and dropping the old table
runs its ON DELETE CASCADE (foreign keys are on, and cannot be turned off inside the
migration's transaction): the trace events of the deliveries are kept aside and put back.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_queue_deliveries_status_allowed"
_BEFORE = "status IN ('queued', 'deferred', 'delivered', 'bounced', 'relayed')"
_AFTER = "status IN ('queued', 'deferred', 'held', 'delivered', 'bounced', 'relayed')"


def upgrade() -> None:
    _replace_check(_AFTER)


def downgrade() -> None:
    # An administrator decides about held messages, not a downgrade.
    held = op.get_bind().execute(
        sa.text("SELECT count(*) FROM queue_deliveries WHERE status = 'held'")
    ).scalar()
    if held:
        raise RuntimeError(
            f"{held} held deliveries: release or delete the held messages before downgrading"
        )
    _replace_check(_BEFORE)


def _replace_check(condition: str) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(
            "CREATE TEMPORARY TABLE salus_kept_events AS"
            " SELECT * FROM queue_events WHERE delivery_id IS NOT NULL"
        )
    with op.batch_alter_table("queue_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(_NAME), type_="check")
        batch_op.create_check_constraint(op.f(_NAME), condition)
    if sqlite:
        op.execute(
            "INSERT INTO queue_events SELECT * FROM salus_kept_events"
            " WHERE id NOT IN (SELECT id FROM queue_events)"
        )
        op.execute("DROP TABLE salus_kept_events")
