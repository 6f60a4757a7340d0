"""Rendezvous (highest-random-weight) hashing: which live member owns which shard.

Every member computes the same answer from the same inputs, with no coordinator: the owner of
a shard is the member with the highest ``weight(shard, member)``. When a member leaves, only
the shards it owned move (each to its runner-up); when a member joins, it takes over only the
shards for which it now has the highest weight, about ``1/N`` of them. The runner-up of a
shard (``ranked(shard, members)[1]``) is its natural warm standby.

The weight is a keyed BLAKE2b digest, stable across processes, machines and Python versions
(unlike ``hash()``, which is salted per process). Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

__all__ = ["assign", "moved", "owner", "ranked", "weight"]

_SEP = b"\x1f"  # unit separator: cannot occur in shard or member names built from text


def weight(shard: str, member: str) -> int:
    """The 64-bit weight of ``member`` for ``shard``: the same everywhere, for ever."""
    digest = hashlib.blake2b(
        shard.encode() + _SEP + member.encode(), digest_size=8, person=b"rialto-hrw"
    ).digest()
    return int.from_bytes(digest, "big")


def ranked(shard: str, members: Iterable[str]) -> list[str]:
    """The distinct members, best first, for ``shard`` (ties broken by name, never by order)."""
    return sorted(set(members), key=lambda m: (weight(shard, m), m), reverse=True)


def owner(shard: str, members: Iterable[str]) -> str:
    """The member that owns ``shard``. Raises ``ValueError`` if there are no members."""
    best: tuple[int, str] | None = None
    for member in members:
        key = (weight(shard, member), member)
        if best is None or key > best:
            best = key
    if best is None:
        raise ValueError(f"no live members to own shard {shard!r}")
    return best[1]


def assign(shards: Iterable[str], members: Iterable[str]) -> dict[str, str]:
    """``{shard: owner}`` for every shard. Raises ``ValueError`` if there are no members."""
    pool = sorted(set(members))
    return {shard: owner(shard, pool) for shard in shards}


def moved(before: Mapping[str, str], after: Mapping[str, str]) -> set[str]:
    """The shards whose owner differs between two assignments (over the same shards)."""
    return {shard for shard, who in after.items() if before.get(shard) != who}
