"""What the API and the operator commands need of the exchange: the node itself, or a
replica of it in a gateway process (:mod:`rialto.runtime.replication`)."""

from __future__ import annotations

from typing import Protocol

from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.requests import Request
from rialto.runtime.keyring import SecretBox


class Core(Protocol):
    exchange: Exchange
    durable_seq: int

    async def submit(self, request: Request) -> Outcome: ...

    def secret_box(self) -> SecretBox: ...
