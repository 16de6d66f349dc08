"""Communities, memberships, invites, join requests, groups, announcements, posts.

Revision ID: 0002_communities
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.storage.base import UTCDateTime

revision = "0002_communities"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
