"""Imports every model module so `Base.metadata` is complete (Alembic and the drift test use it)."""

from live.chat import models as _chat  # noqa: F401
from live.communities import (
    follows as _follows,  # noqa: F401
    models as _communities,  # noqa: F401
)
from live.lives import models as _lives  # noqa: F401
from live.me import models as _usage  # noqa: F401
from live.moderation import models as _moderation  # noqa: F401
from live.notifications import models as _notifications  # noqa: F401
from live.safety import models as _safety  # noqa: F401
from live.storage import models as _core  # noqa: F401
from live.storage.base import Base
from live.uploads import models as _uploads  # noqa: F401

metadata = Base.metadata
