"""Shared checks for the accounts-shard tests (``tests/unit/test_accounts*.py``).

:func:`run` applies one operation and checks what every operation must satisfy: each posting
of its Result is balanced (``imbalance`` all zeros), the legs add up to exactly the balance
changes the operation made (no more, no less), a refusal or duplicate changes no balance, and
``totals()`` stays all zeros.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rialto.domain.accounts import Accounts, Result
from rialto.domain.postings import AccountKind, imbalance

Key = tuple[AccountKind, int, str]


def ledger(acc: Accounts) -> dict[Key, int]:
    """Every account's balance, keyed like a Leg: ``(account, user, asset)``; system user 0."""
    out: dict[Key, int] = {}
    for user, per in acc.balances.items():
        for asset, (free, locked) in per.items():
            out[(AccountKind.FREE, user, asset)] = free
            out[(AccountKind.LOCKED, user, asset)] = locked
    for (kind, asset), amount in acc.system.items():
        out[(kind, 0, asset)] = amount
    return out


def _nonzero(counter: Counter[Key]) -> dict[Key, int]:
    return {k: v for k, v in counter.items() if v}


def posting_changes(result: Result) -> dict[Key, int]:
    """The net change per account the Result's legs describe (zero entries dropped)."""
    legs: Counter[Key] = Counter()
    for posting in result.postings:
        for leg in posting.legs:
            legs[(leg.account, leg.user_id, leg.asset)] += leg.amount
    return _nonzero(legs)


def run(acc: Accounts, op: str, *args: Any, **kwargs: Any) -> Result:
    """Apply ``acc.<op>(*args, **kwargs)`` and check its postings against what it changed."""
    before = ledger(acc)
    result: Result = getattr(acc, op)(*args, **kwargs)
    after = ledger(acc)
    changes: Counter[Key] = Counter()
    for key in before.keys() | after.keys():
        changes[key] = after.get(key, 0) - before.get(key, 0)
    for posting in result.postings:
        assert set(imbalance(posting).values()) <= {0}, f"unbalanced {posting}"
    assert posting_changes(result) == _nonzero(changes), (op, args, result)
    if not result.ok:
        assert result.postings == (), result
        assert _nonzero(changes) == {}, (op, args, result)
    assert set(acc.totals().values()) <= {0}, acc.totals()
    return result
