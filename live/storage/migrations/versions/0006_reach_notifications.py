"""Reach: notifications (inbox, push subscriptions, settings, outbox), follows, scheduled lives
and reminders, usage minutes (replacing the activity table, which nothing wrote in real use).

Revision ID: 0006_reach
Revises: 0004_lives

The integrator re-chains this after the other branches' migrations (it only adds tables and
widens `lives`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.storage.base import UTCDateTime

revision = "0006_reach"
down_revision = "0005_safety"
branch_labels = None
depends_on = None


def _alter_lives(*, upgrade: bool) -> None:
    """Widen `status` (for "scheduled"), let `started_at` be null, add the schedule's columns.

    SQLite rebuilds the table to change a column, and dropping the old one would cascade to
    `stage_seats` (foreign keys are on): the seats are set aside and put back around it.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE _reach_seats AS SELECT * FROM stage_seats")
    with op.batch_alter_table("lives") as batch:
        if upgrade:
            batch.add_column(sa.Column("starts_at", UTCDateTime(), nullable=True))
            batch.add_column(sa.Column("reminded_at", UTCDateTime(), nullable=True))
            batch.alter_column("status", existing_type=sa.String(length=8), type_=sa.String(length=16),
                               existing_nullable=False)
            batch.alter_column("started_at", existing_type=UTCDateTime(), nullable=True)
            batch.create_index("ix_lives_status_starts_at", ["status", "starts_at"], unique=False)
        else:
            batch.drop_index("ix_lives_status_starts_at")
            batch.alter_column("started_at", existing_type=UTCDateTime(), nullable=False)
            batch.alter_column("status", existing_type=sa.String(length=16), type_=sa.String(length=8),
                               existing_nullable=False)
            batch.drop_column("reminded_at")
            batch.drop_column("starts_at")
    if sqlite:
        op.execute("INSERT OR IGNORE INTO stage_seats SELECT * FROM _reach_seats")
        op.execute("DROP TABLE _reach_seats")


def upgrade() -> None:
    op.create_table('notification_settings',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('muted_communities', sa.JSON(), nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=True),
    sa.Column('quiet_end', sa.String(length=5), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('daily_limit_minutes', sa.Integer(), nullable=True),
    sa.Column('usage_reminded_on', sa.String(length=10), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_settings'))
    )
    op.create_table('notifications',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=True),
    sa.Column('live_id', sa.String(length=32), nullable=True),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('actor_name', sa.String(length=200), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=300), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('read_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('user_id', 'id', name=op.f('pk_notifications'))
    )
    op.create_index('ix_notifications_user_id_read_at', 'notifications', ['user_id', 'read_at'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('destination', sa.String(length=300), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('lease_owner', sa.String(length=32), nullable=True),
    sa.Column('lease_until', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    op.create_index('ix_outbox_next_attempt_at', 'outbox', ['next_attempt_at'], unique=False)
    op.create_table('push_subscriptions',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('p256dh', sa.String(length=100), nullable=False),
    sa.Column('auth', sa.String(length=40), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'id', name=op.f('pk_push_subscriptions')),
    sa.UniqueConstraint('id', name=op.f('uq_push_subscriptions_id'))
    )
    op.create_table('usage_minutes',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('minutes', sa.LargeBinary(length=180), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'day', 'kind', 'community_id', name=op.f('pk_usage_minutes'))
    )
    op.create_index('ix_usage_minutes_community_id_day', 'usage_minutes', ['community_id', 'day'], unique=False)
    op.create_table('follows',
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_follows_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_follows_user_id_users')),
    sa.PrimaryKeyConstraint('community_id', 'user_id', name=op.f('pk_follows'))
    )
    op.create_index(op.f('ix_follows_user_id'), 'follows', ['user_id'], unique=False)
    _alter_lives(upgrade=True)
    op.create_table('live_reminders',
    sa.Column('live_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['live_id'], ['lives.id'], name=op.f('fk_live_reminders_live_id_lives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('live_id', 'user_id', name=op.f('pk_live_reminders'))
    )
    op.create_index(op.f('ix_live_reminders_user_id'), 'live_reminders', ['user_id'], unique=False)
    op.drop_index(op.f('ix_activity_community_id_day'), table_name='activity')
    op.drop_index(op.f('ix_activity_user_id_day'), table_name='activity')
    op.drop_table('activity')


def downgrade() -> None:
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    op.create_index('ix_activity_user_id_day', 'activity', ['user_id', 'day'], unique=False)
    op.create_index('ix_activity_community_id_day', 'activity', ['community_id', 'day'], unique=False)
    op.drop_index(op.f('ix_live_reminders_user_id'), table_name='live_reminders')
    op.drop_table('live_reminders')
    # The old schema knows no scheduled lives: those never started end here.
    op.execute("UPDATE lives SET status = 'ended', end_reason = 'not_started', started_at = starts_at, "
               "ended_at = starts_at WHERE status = 'scheduled'")
    _alter_lives(upgrade=False)
    op.drop_index(op.f('ix_follows_user_id'), table_name='follows')
    op.drop_table('follows')
    op.drop_index('ix_usage_minutes_community_id_day', table_name='usage_minutes')
    op.drop_table('usage_minutes')
    op.drop_table('push_subscriptions')
    op.drop_index('ix_outbox_next_attempt_at', table_name='outbox')
    op.drop_table('outbox')
    op.drop_index('ix_notifications_user_id_read_at', table_name='notifications')
    op.drop_table('notifications')
    op.drop_table('notification_settings')
