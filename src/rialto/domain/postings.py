"""Double-entry postings: what the accounts shards emit for every change of money."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class AccountKind(StrEnum):
    """Named ledger accounts. User accounts carry a user id; system accounts use user 0."""

    FREE = "free"  # user's spendable balance (liability)
    LOCKED = "locked"  # user's funds held for open orders (liability)
    FEES = "fees"  # fee revenue; pays maker rebates
    CLEARING = "clearing"  # between the two sides of a trade; zero once both are settled
    ADJUSTMENTS = "adjustments"  # counterpart of operator adjustments
    DEPOSITS_IN_TRANSIT = "deposits_in_transit"  # seen on chain, not yet credited
    WITHDRAWALS_PENDING = "withdrawals_pending"  # held for a withdrawal until it is sent
    HOT_WALLET = "hot_wallet"  # asset account: coins the exchange holds (debit-normal)
    COLD_WALLET = "cold_wallet"  # asset account (debit-normal)


# Asset accounts grow with debits; everything else with credits. A posting balances when,
# per asset, the changes of credit-normal accounts minus those of asset accounts sum to zero.
ASSET_ACCOUNTS = frozenset({AccountKind.HOT_WALLET, AccountKind.COLD_WALLET})


class Leg(NamedTuple):
    """One line of a posting: ``amount`` minor units added to the account's natural balance."""

    account: AccountKind
    user_id: int
    asset: str
    amount: int


class Posting(NamedTuple):
    """A balanced set of legs, identified by the operation that caused it.

    ``ref`` is the idempotency key of that operation, e.g. ``"trade:BTCUSDT:42"``.
    """

    kind: str
    ref: str
    ts: int
    legs: tuple[Leg, ...]
    memo: str = ""  # an operator's reason, for adjustments


def imbalance(posting: Posting) -> dict[str, int]:
    """Per asset, how far the posting is from balanced (all zeros when it is correct)."""
    out: dict[str, int] = {}
    for leg in posting.legs:
        sign = -1 if leg.account in ASSET_ACCOUNTS else 1
        out[leg.asset] = out.get(leg.asset, 0) + sign * leg.amount
    return out
