"""Where uploaded images live: a small interface, and the local directory that implements it.

`MediaStore` is all the uploads service asks of a store: put bytes under a key, get them back,
delete them. `LocalMediaStore` keeps them under `LIVE_VAR_DIR/uploads/`; with several app nodes
on several machines that directory must be shared (a network file system), or another store used.
An S3-compatible store (any object storage speaking the S3 API) fits the same three methods and
is the planned option for deployments that scale out; it is not built yet.

Keys are made by the service (`{upload id}/{variant}`), never by a client; the local store still
refuses anything else, so no key can reach outside its directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[0-9a-z]{1,32}/(image|thumbnail)$")


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` (nothing there is not an error)."""
        ...


class LocalMediaStore:
    """Files under one directory, written atomically (a reader never sees half a file)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a media key: {key!r}")
        return self.root / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, self._path(key))

    @staticmethod
    def _get(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, self._path(key))

    @staticmethod
    def _delete(path: Path) -> None:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # the upload's directory, once its last file is gone
        except OSError:
            pass
