"""What the projector consumes (``StreamItem``) and reports (``Projected``, ``ProjectionError``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class StreamItem(NamedTuple):
    """The events one journal entry caused, with its place in its stream.

    ``stream`` names an ordered log ("match.BTCUSDT", "accounts.0"); ``seq`` increases strictly
    within it and starts at 1; ``symbol`` is the market of a match stream, "" otherwise;
    ``events`` are rialto.domain.events types and rialto.domain.postings.Posting.
    """

    stream: str
    seq: int
    symbol: str
    events: Sequence[object]


class Projected(NamedTuple):
    """What one ``project`` call wrote."""

    items: int = 0
    orders: int = 0
    order_changes: int = 0
    trades: int = 0
    legs: int = 0
    balances: int = 0

    @property
    def rows(self) -> int:
        """Ledger legs + trades + balance rows written."""
        return self.legs + self.trades + self.balances


class ProjectionError(RuntimeError):
    """The batch contradicts the read model (out-of-order seq, unbalanced posting, ...)."""
