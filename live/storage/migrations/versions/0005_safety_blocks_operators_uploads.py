"""Safety: blocks, platform operators, account reports, suspensions and their appeals; uploads
(images in posts); who may list a community's members (`communities.member_list`).

Revision ID: 0005_safety
Revises: 0004_lives
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.storage.base import UTCDateTime

revision = "0005_safety"
down_revision = "0004_lives"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account_reports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('reporter_id', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_reports'))
    )
    op.create_index(op.f('ix_account_reports_reporter_id'), 'account_reports', ['reporter_id'], unique=False)
    op.create_index('ix_account_reports_status_id', 'account_reports', ['status', 'id'], unique=False)
    op.create_index(op.f('ix_account_reports_target_id'), 'account_reports', ['target_id'], unique=False)
    op.create_table('operators',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('granted_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_operators'))
    )
    op.create_table('platform_actions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('moderator_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('overturned_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_actions'))
    )
    op.create_index('ix_platform_actions_user_id', 'platform_actions', ['user_id'], unique=False)
    op.create_table('suspensions',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('until', UTCDateTime(), nullable=True),
    sa.Column('action_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_suspensions'))
    )
    op.create_table('blocks',
    sa.Column('blocker_id', sa.String(length=64), nullable=False),
    sa.Column('blocked_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['blocker_id'], ['users.id'], name=op.f('fk_blocks_blocker_id_users')),
    sa.PrimaryKeyConstraint('blocker_id', 'blocked_id', name=op.f('pk_blocks'))
    )
    op.create_index(op.f('ix_blocks_blocked_id'), 'blocks', ['blocked_id'], unique=False)
    op.create_table('platform_appeals',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('action_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['platform_actions.id'], name=op.f('fk_platform_appeals_action_id_platform_actions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_appeals')),
    sa.UniqueConstraint('action_id', name=op.f('uq_platform_appeals_action_id'))
    )
    op.create_index('ix_platform_appeals_status_id', 'platform_appeals', ['status', 'id'], unique=False)
    op.create_index(op.f('ix_platform_appeals_user_id'), 'platform_appeals', ['user_id'], unique=False)
    op.create_table('uploads',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('thumb_content_type', sa.String(length=32), nullable=False),
    sa.Column('thumb_width', sa.Integer(), nullable=False),
    sa.Column('thumb_height', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('deleted_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_uploads_post_id_posts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_uploads_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads'))
    )
    op.create_index('ix_uploads_deleted_at', 'uploads', ['deleted_at'], unique=False)
    op.create_index('ix_uploads_post_id', 'uploads', ['post_id'], unique=False)
    op.create_index('ix_uploads_user_id_post_id', 'uploads', ['user_id', 'post_id'], unique=False)
    with op.batch_alter_table('communities') as batch:
        batch.add_column(sa.Column('member_list', sa.String(length=16), server_default='members', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('communities') as batch:
        batch.drop_column('member_list')
    op.drop_index('ix_uploads_user_id_post_id', table_name='uploads')
    op.drop_index('ix_uploads_post_id', table_name='uploads')
    op.drop_index('ix_uploads_deleted_at', table_name='uploads')
    op.drop_table('uploads')
    op.drop_index(op.f('ix_platform_appeals_user_id'), table_name='platform_appeals')
    op.drop_index('ix_platform_appeals_status_id', table_name='platform_appeals')
    op.drop_table('platform_appeals')
    op.drop_index(op.f('ix_blocks_blocked_id'), table_name='blocks')
    op.drop_table('blocks')
    op.drop_table('suspensions')
    op.drop_index('ix_platform_actions_user_id', table_name='platform_actions')
    op.drop_table('platform_actions')
    op.drop_table('operators')
    op.drop_index(op.f('ix_account_reports_target_id'), table_name='account_reports')
    op.drop_index('ix_account_reports_status_id', table_name='account_reports')
    op.drop_index(op.f('ix_account_reports_reporter_id'), table_name='account_reports')
    op.drop_table('account_reports')

