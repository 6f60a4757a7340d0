"""Listen keys of the legacy user-data stream: one per user, valid 60 minutes, kept alive
by PUT. In memory for one process; ``rialto.adapters.redis.listenkeys`` for gateways."""

from __future__ import annotations

import secrets
from typing import Protocol

LISTEN_KEY_MS = 60 * 60 * 1000


def new_listen_key() -> str:
    return secrets.token_hex(32)


class ListenKeys(Protocol):
    async def create(self, user_id: int, now: int) -> str:
        """The user's listen key (a new one, or the live one extended)."""
        ...

    async def keep_alive(self, user_id: int, key: str, now: int) -> bool: ...

    async def close(self, user_id: int, key: str) -> bool: ...

    async def user_of(self, key: str, now: int) -> int | None: ...


class MemoryListenKeys:
    def __init__(self) -> None:
        self._keys: dict[str, tuple[int, int]] = {}  # key -> (user, expires ms)

    async def create(self, user_id: int, now: int) -> str:
        for key, (user, expires) in list(self._keys.items()):
            if expires < now:
                del self._keys[key]
            elif user == user_id:
                self._keys[key] = (user, now + LISTEN_KEY_MS)
                return key
        key = new_listen_key()
        self._keys[key] = (user_id, now + LISTEN_KEY_MS)
        return key

    async def keep_alive(self, user_id: int, key: str, now: int) -> bool:
        entry = self._keys.get(key)
        if entry is None or entry[0] != user_id or entry[1] < now:
            return False
        self._keys[key] = (user_id, now + LISTEN_KEY_MS)
        return True

    async def close(self, user_id: int, key: str) -> bool:
        entry = self._keys.get(key)
        if entry is None or entry[0] != user_id:
            return False
        del self._keys[key]
        return True

    async def user_of(self, key: str, now: int) -> int | None:
        entry = self._keys.get(key)
        return None if entry is None or entry[1] < now else entry[0]
