"""Developer tool: print the Alembic operations that bring the schema at REVISION to the models.

    python -m live.storage.autogen 0001_core

Paste the output into the next migration's upgrade(); the test suite checks that migrations and
models agree on both databases.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.migration import MigrationContext

from live.storage import migrate
from live.storage.all_models import metadata
from live.storage.db import create_engine


async def render(revision: str) -> str:
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'autogen.db'}"
    await migrate.upgrade(url, revision)
    engine = create_engine(url)
    async with engine.connect() as conn:
        script = await conn.run_sync(
            lambda c: produce_migrations(MigrationContext.configure(c), metadata)
        )
    await engine.dispose()
    assert script.upgrade_ops is not None and script.downgrade_ops is not None  # produce_migrations fills both
    up = render_python_code(script.upgrade_ops, render_as_batch=False)
    down = render_python_code(script.downgrade_ops, render_as_batch=False)
    return f"def upgrade() -> None:\n{_body(up)}\n\ndef downgrade() -> None:\n{_body(down)}"


def _body(code: str) -> str:
    lines = [ln for ln in code.splitlines() if ln.strip() and "###" not in ln]
    return "\n".join(lines).replace("live.storage.base.UTCDateTime(timezone=True)", "UTCDateTime()") + "\n"


if __name__ == "__main__":
    print(asyncio.run(render(sys.argv[1] if len(sys.argv) > 1 else "head")))
