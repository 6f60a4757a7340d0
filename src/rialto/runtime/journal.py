"""The journal port: one append-only, sequenced, durable log per shard.

Adapters: ``rialto.adapters.journal.file`` (embedded default) and
``rialto.adapters.nats.jetstream_journal`` (distributed). A record's ``seq`` is the
journal's own counter, contiguous from 1; nothing is acknowledged before it is
durable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple, Protocol


class JournalRecord(NamedTuple):
    seq: int
    payload: bytes


class JournalError(RuntimeError):
    """A journal that cannot be opened or written safely (corruption, lost fencing)."""


class Journal(Protocol):
    @property
    def last_seq(self) -> int:
        """The seq of the last durable record (0 for an empty journal)."""
        ...

    async def append(self, payloads: Sequence[bytes]) -> int:
        """Append records; return the seq of the last once all are durable.

        Records get ``last_seq + 1 ...`` in order. Concurrent callers are committed
        together (group commit) but each returns only when its own records are durable.
        """
        ...

    def read(self, after: int = 0) -> AsyncIterator[JournalRecord]:
        """Every durable record with ``seq > after``, in order."""
        ...

    async def close(self) -> None: ...
