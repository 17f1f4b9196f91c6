"""queue

Tables owned by mailserver/queue/models.py (queued messages, sealed contents, one
delivery row per recipient, trace events).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('queue_messages',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('sender', sa.String(length=320), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('submitter', sa.String(length=320), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('received_at', storage.base.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("origin IN ('submission', 'dsn', 'mx')", name=op.f('ck_queue_messages_origin_allowed')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_messages'))
    )
    with op.batch_alter_table('queue_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_messages_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_queue_messages_received_at'), ['received_at'], unique=False)

    op.create_table('queue_contents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('queue_id', sa.String(length=32), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['queue_id'], ['queue_messages.id'], name=op.f('fk_queue_contents_queue_id_queue_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_contents'))
    )
    with op.batch_alter_table('queue_contents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_contents_queue_id'), ['queue_id'], unique=False)

    op.create_table('queue_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.String(length=32), nullable=False),
    sa.Column('content_id', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_until', storage.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_reply', sa.String(length=1000), nullable=False),
    sa.Column('delay_notified', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('final_at', storage.base.UtcDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'deferred', 'delivered', 'bounced', 'relayed')", name=op.f('ck_queue_deliveries_status_allowed')),
    sa.ForeignKeyConstraint(['content_id'], ['queue_contents.id'], name=op.f('fk_queue_deliveries_content_id_queue_contents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['queue_id'], ['queue_messages.id'], name=op.f('fk_queue_deliveries_queue_id_queue_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_deliveries'))
    )
    with op.batch_alter_table('queue_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_queue_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_queue_deliveries_queue_id'), ['queue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_queue_deliveries_recipient'), ['recipient'], unique=False)

    op.create_table('queue_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('queue_id', sa.String(length=32), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('at', storage.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.String(length=1000), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['queue_deliveries.id'], name=op.f('fk_queue_events_delivery_id_queue_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['queue_id'], ['queue_messages.id'], name=op.f('fk_queue_events_queue_id_queue_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_events'))
    )
    with op.batch_alter_table('queue_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_events_queue_id'), ['queue_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('queue_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_events_queue_id'))

    op.drop_table('queue_events')
    with op.batch_alter_table('queue_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_deliveries_recipient'))
        batch_op.drop_index(batch_op.f('ix_queue_deliveries_queue_id'))
        batch_op.drop_index('ix_queue_deliveries_due')

    op.drop_table('queue_deliveries')
    with op.batch_alter_table('queue_contents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_contents_queue_id'))

    op.drop_table('queue_contents')
    with op.batch_alter_table('queue_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_messages_received_at'))
        batch_op.drop_index(batch_op.f('ix_queue_messages_message_id'))

    op.drop_table('queue_messages')
