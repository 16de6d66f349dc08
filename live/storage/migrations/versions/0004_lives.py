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
    pass


def downgrade() -> None:
    pass
