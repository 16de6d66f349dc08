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
    pass


def downgrade() -> None:
    pass
