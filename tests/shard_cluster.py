"""An in-memory cluster of shards (:mod:`rialto.domain.shards`) for tests.

:class:`ShardCluster` plays the bus of distributed mode with no failures: a caller's request
goes into one shard's inbox (source ``""``, number 0, the shard's next inbox position); every
message a step sends is then delivered, first sent first delivered, to its destination shard
(source = the sender's name, number = the number :meth:`Shard.apply` gave it) until no message
is left. Each shard stamps its own ``seq`` (its ``last_seq + 1``).

The caller's answer is the Outcome of the step with ``reply`` True; a step with ``reply``
False hands the caller on to the shard that receives its first send (a new order held by the
accounts shard is answered by its market's shard).

:func:`route` sends each request to the shard(s) the distributed client will send it to.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from rialto.domain import requests as rq
from rialto.domain.exchange import Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.shards import (
    CONTROL,
    AccountsShard,
    MatchingShard,
    Message,
    Shard,
    Step,
    accounts_shard,
    market_shard,
    new_shard,
)


class Delivered(NamedTuple):
    """One input a shard applied, as its journal would hold it."""

    seq: int
    ts: int
    source: str
    number: int
    inbox_seq: int
    msg: Message
    step: Step


def route(r: rq.Request, user_shards: int) -> list[str]:
    """The shards a request goes to, in the order the client sends it."""
    accounts = [f"acct-{i}" for i in range(user_shards)]
    if type(r) is rq.CreateUser:
        return [CONTROL]
    if type(r) in (rq.Deposit, rq.Adjust, rq.NewOrder):
        return [accounts_shard(r.user_id, user_shards)]  # type: ignore[union-attr]
    if type(r) in (rq.CancelOrder, rq.CancelAllOrders, rq.AmendOrder, rq.SetMarketStatus):
        return [market_shard(r.symbol)]  # type: ignore[union-attr]
    if type(r) in (rq.SetMarketRisk, rq.ResumeMarket):
        return [market_shard(r.symbol)]  # type: ignore[union-attr]
    if type(r) is rq.AddAsset:
        return accounts
    if type(r) is rq.AddMarket:
        symbol = Instrument.from_dict(dict(r.spec)).symbol
        return [*accounts, market_shard(symbol)]
    raise TypeError(f"not a request: {r!r}")


class ShardCluster:
    def __init__(self, user_shards: int) -> None:
        self.user_shards = user_shards
        self.shards: dict[str, Shard] = {}
        self.inbox: dict[str, int] = {}  # shard -> position of the last caller request
        self.journal: dict[str, list[Delivered]] = {}  # shard -> every input it applied

    def shard(self, name: str) -> Shard:
        s = self.shards.get(name)
        if s is None:
            s = self.shards[name] = new_shard(name)
            self.journal[name] = []
        return s

    def route(self, r: rq.Request) -> list[str]:
        return route(r, self.user_shards)

    def _apply(
        self, name: str, ts: int, source: str, number: int, inbox_seq: int, msg: Message
    ) -> tuple[Step, list[int]]:
        s = self.shard(name)
        seq = s.last_seq + 1
        step, numbers = s.apply(seq, ts, source, number, inbox_seq, msg)
        assert len(numbers) == len(step.sends)
        self.journal[name].append(Delivered(seq, ts, source, number, inbox_seq, msg, step))
        return step, numbers

    def submit(self, shard_name: str, msg: Message, ts: int) -> Outcome:
        """Apply a caller's request to one shard and deliver everything that follows."""
        self.shard(shard_name)
        inbox_seq = self.inbox.get(shard_name, 0) + 1
        self.inbox[shard_name] = inbox_seq
        step, numbers = self._apply(shard_name, ts, "", 0, inbox_seq, msg)
        answer: Outcome | None = None
        # (destination, source, number, message, carries the caller)
        queue: deque[tuple[str, str, int, Message, bool]] = deque()

        def take(source: str, step: Step, numbers: list[int], carries: bool) -> None:
            nonlocal answer
            if carries and step.reply:
                answer = step.outcome
            for i, ((dest, m), n) in enumerate(zip(step.sends, numbers, strict=True)):
                queue.append((dest, source, n, m, carries and not step.reply and i == 0))

        take(shard_name, step, numbers, True)
        while queue:
            dest, source, number, m, carries = queue.popleft()
            step, numbers = self._apply(dest, ts, source, number, 0, m)
            take(dest, step, numbers, carries)
        assert answer is not None, f"nobody answered {msg!r}"
        return answer

    def request(self, r: rq.Request, ts: int) -> Outcome:
        """Send ``r`` where the client would; the answer of the last shard it went to."""
        outs = [self.submit(name, r, ts) for name in self.route(r)]
        return outs[-1]

    # --- queries ----------------------------------------------------------

    def accounts_shards(self) -> list[AccountsShard]:
        out = [self.shard(f"acct-{i}") for i in range(self.user_shards)]
        assert all(isinstance(s, AccountsShard) for s in out)
        return out  # type: ignore[return-value]

    def accounts_of(self, user_id: int) -> AccountsShard:
        s = self.shard(accounts_shard(user_id, self.user_shards))
        assert isinstance(s, AccountsShard)
        return s

    def balance(self, user_id: int, asset: str) -> tuple[int, int]:
        return self.accounts_of(user_id).accounts.balance(user_id, asset)

    def market(self, symbol: str) -> MatchingShard:
        s = self.shard(market_shard(symbol))
        assert isinstance(s, MatchingShard)
        return s

    def markets(self) -> list[MatchingShard]:
        return [s for s in self.shards.values() if isinstance(s, MatchingShard)]
