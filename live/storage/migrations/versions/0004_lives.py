"""Live sessions and chat.

Revision ID: 0004_lives
Revises: 0003_moderation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.storage.base import UTCDateTime

revision = "0004_lives"
down_revision = "0003_moderation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_rooms',
    sa.Column('room', sa.String(length=80), nullable=False),
    sa.Column('epoch', sa.String(length=16), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('room', name=op.f('pk_chat_rooms'))
    )
    op.create_table('chat_messages',
    sa.Column('room', sa.String(length=80), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('user_name', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('deleted_at', UTCDateTime(), nullable=True),
    sa.Column('delete_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['room'], ['chat_rooms.room'], name=op.f('fk_chat_messages_room_chat_rooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_chat_messages_user_id_users')),
    sa.PrimaryKeyConstraint('room', 'seq', name=op.f('pk_chat_messages')),
    sa.UniqueConstraint('id', name=op.f('uq_chat_messages_id')),
    sa.UniqueConstraint('room', 'user_id', 'nonce', name='uq_chat_messages_room_user_nonce')
    )
    op.create_index(op.f('ix_chat_messages_user_id'), 'chat_messages', ['user_id'], unique=False)
    op.create_table('lives',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('host_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('live_host', sa.String(length=64), nullable=True),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('peak_viewers', sa.Integer(), nullable=False),
    sa.Column('pinned_seq', sa.Integer(), nullable=True),
    sa.Column('thumbnail_path', sa.String(length=500), nullable=True),
    sa.Column('thumbnail_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_lives_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['host_id'], ['users.id'], name=op.f('fk_lives_host_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lives')),
    sa.UniqueConstraint('live_host', name=op.f('uq_lives_live_host'))
    )
    op.create_index('ix_lives_community_id_status', 'lives', ['community_id', 'status'], unique=False)
    op.create_index(op.f('ix_lives_host_id'), 'lives', ['host_id'], unique=False)
    op.create_table('stage_seats',
    sa.Column('live_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['live_id'], ['lives.id'], name=op.f('fk_stage_seats_live_id_lives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('live_id', 'user_id', name=op.f('pk_stage_seats'))
    )


def downgrade() -> None:
    op.drop_table('stage_seats')
    op.drop_index(op.f('ix_lives_host_id'), table_name='lives')
    op.drop_index('ix_lives_community_id_status', table_name='lives')
    op.drop_table('lives')
    op.drop_index(op.f('ix_chat_messages_user_id'), table_name='chat_messages')
    op.drop_table('chat_messages')
    op.drop_table('chat_rooms')
