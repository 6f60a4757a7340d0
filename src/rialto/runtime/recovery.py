"""Start-up and crash recovery are one path: newest valid snapshot + replay of the tail.

The newest snapshot is checked by replay: the state from the snapshot before it (or from
the empty exchange) is replayed up to the newest snapshot's position, and the state
hashes must agree. A snapshot of a different history, or one the journal cannot reach,
stops start-up with a clear error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rialto.adapters.journal.file import FileJournal
from rialto.domain.exchange import Exchange, Outcome
from rialto.runtime.codec import decode
from rialto.runtime.snapshots import Snapshot, SnapshotError, SnapshotStore

log = logging.getLogger(__name__)
SHARD = "exchange"


class RecoveryError(RuntimeError):
    """State that cannot be rebuilt safely; start-up stops."""


def replay(
    journal: FileJournal,
    exchange: Exchange,
    until: int | None = None,
    emit: Callable[[Outcome], None] | None = None,
) -> int:
    """Apply the journal's records after ``exchange.last_seq`` (up to ``until``); return count."""
    count = 0
    for batch in journal.read_batches_sync(exchange.last_seq):
        for rec in batch:
            if until is not None and rec.seq > until:
                return count
            seq, ts, request = decode(rec.payload)
            if seq != rec.seq:
                raise RecoveryError(f"journal record {rec.seq} carries request seq {seq}")
            outcome = exchange.apply(seq, ts, request)
            if emit is not None:
                emit(outcome)
            count += 1
    return count


def recover(
    journal: FileJournal,
    snapshots: SnapshotStore,
    shards: int,
    emit_after: int | None = None,
    emit: Callable[[Outcome], None] | None = None,
) -> Exchange:
    """Rebuild the exchange from ``snapshots`` and ``journal``.

    With ``emit``, the outcomes of every request after ``emit_after`` are passed to it
    (to catch a projector up); recovery then starts from a snapshot at or before that.
    """
    seqs = snapshots.seqs(SHARD)
    newest = snapshots.latest(SHARD)
    if newest is not None and newest.seq > journal.last_seq:
        raise RecoveryError(
            f"snapshot at seq {newest.seq} is ahead of the journal (last seq {journal.last_seq}):"
            " it belongs to a different history or the journal lost records"
        )
    base = _verified_base(journal, snapshots, shards, seqs, newest)
    if emit is not None and emit_after is not None and base.last_seq > emit_after:
        earlier = _start_at_or_before(journal, snapshots, shards, seqs, emit_after)
        if earlier is None:
            raise RecoveryError(f"cannot rebuild the outcomes after seq {emit_after}")
        base = earlier
        replay(journal, base, until=emit_after)
    replay(
        journal,
        base,
        emit=None if emit is None else lambda o: emit(o) if o.seq > (emit_after or 0) else None,
    )
    return base


def _restore(snap: Snapshot) -> Exchange:
    ex = Exchange.restore(snap.state)
    if ex.state_hash() != snap.state_hash:
        raise RecoveryError(f"snapshot at seq {snap.seq} does not match its own state hash")
    return ex


def _verified_base(
    journal: FileJournal,
    snapshots: SnapshotStore,
    shards: int,
    seqs: list[int],
    newest: Snapshot | None,
) -> Exchange:
    """The newest snapshot's state, after checking it against a replay of the journal."""
    if newest is None:
        start = _start_at_or_before(journal, snapshots, shards, [], 0)
        if start is None:
            raise RecoveryError(
                f"no usable snapshot and the journal starts at seq {journal.first_seq}, not 1"
            )
        return start
    start = _start_at_or_before(journal, snapshots, shards, seqs, newest.seq - 1)
    if start is None or start.last_seq + 1 < journal.first_seq:
        # The journal was truncated after this snapshot: nothing older to check it against.
        log.warning("journal starts at seq %d: trusting snapshot %d", journal.first_seq, newest.seq)
        return _restore(newest)
    replay(journal, start, until=newest.seq)
    restored = _restore(newest)
    if start.last_seq != newest.seq or start.state_hash() != restored.state_hash():
        raise RecoveryError(
            f"replaying the journal to seq {newest.seq} does not give the snapshot's state "
            f"(hash {start.state_hash()[:12]} != {newest.state_hash[:12]}): the snapshot "
            "belongs to a different history"
        )
    return restored


def _start_at_or_before(
    journal: FileJournal, snapshots: SnapshotStore, shards: int, seqs: list[int], seq: int
) -> Exchange | None:
    """The newest valid snapshot at or before ``seq``, else genesis; None if neither exists."""
    for candidate in reversed([s for s in seqs if s <= seq]):
        try:
            return _restore(snapshots.load(SHARD, candidate))
        except SnapshotError as exc:
            log.warning("skipping a damaged snapshot: %s", exc)
    return Exchange(shards) if journal.first_seq <= 1 else None
