"""Moderation actions, sanctions, reports, appeals, activity.

Revision ID: 0003_moderation
Revises: 0002_communities
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.storage.base import UTCDateTime

revision = "0003_moderation"
down_revision = "0002_communities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    op.create_index('ix_activity_community_id_day', 'activity', ['community_id', 'day'], unique=False)
    op.create_index('ix_activity_user_id_day', 'activity', ['user_id', 'day'], unique=False)
    op.create_table('moderation_actions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('target_type', sa.String(length=16), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('moderator_id', sa.String(length=64), nullable=False),
    sa.Column('moderator_role', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('overturned_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_moderation_actions_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_actions'))
    )
    op.create_index('ix_moderation_actions_community_id_id', 'moderation_actions', ['community_id', 'id'], unique=False)
    op.create_index('ix_moderation_actions_user_id', 'moderation_actions', ['user_id'], unique=False)
    op.create_table('reports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('reporter_id', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_reports_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    op.create_index('ix_reports_community_id_status', 'reports', ['community_id', 'status'], unique=False)
    op.create_index(op.f('ix_reports_reporter_id'), 'reports', ['reporter_id'], unique=False)
    op.create_table('sanctions',
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('until', UTCDateTime(), nullable=True),
    sa.Column('action_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_sanctions_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', 'user_id', 'kind', name=op.f('pk_sanctions'))
    )
    op.create_index(op.f('ix_sanctions_user_id'), 'sanctions', ['user_id'], unique=False)
    op.create_table('appeals',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('action_id', sa.String(length=32), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['moderation_actions.id'], name=op.f('fk_appeals_action_id_moderation_actions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_appeals_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeals')),
    sa.UniqueConstraint('action_id', name=op.f('uq_appeals_action_id'))
    )
    op.create_index('ix_appeals_community_id_status', 'appeals', ['community_id', 'status'], unique=False)
    op.create_index(op.f('ix_appeals_user_id'), 'appeals', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_appeals_user_id'), table_name='appeals')
    op.drop_index('ix_appeals_community_id_status', table_name='appeals')
    op.drop_table('appeals')
    op.drop_index(op.f('ix_sanctions_user_id'), table_name='sanctions')
    op.drop_table('sanctions')
    op.drop_index(op.f('ix_reports_reporter_id'), table_name='reports')
    op.drop_index('ix_reports_community_id_status', table_name='reports')
    op.drop_table('reports')
    op.drop_index('ix_moderation_actions_user_id', table_name='moderation_actions')
    op.drop_index('ix_moderation_actions_community_id_id', table_name='moderation_actions')
    op.drop_table('moderation_actions')
    op.drop_index('ix_activity_user_id_day', table_name='activity')
    op.drop_index('ix_activity_community_id_day', table_name='activity')
    op.drop_table('activity')

