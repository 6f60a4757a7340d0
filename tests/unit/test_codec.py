"""Journal records decode to exactly the request that was applied."""

from __future__ import annotations

import pytest

from rialto.domain import requests as req
from rialto.domain.instruments import Instrument
from rialto.domain.orders import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from rialto.runtime.codec import CodecError, decode, encode

MARKET = req.AddMarket.of(Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001"))
REQUESTS: list[req.Request] = [
    req.NewOrder(
        7,
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_LOSS_LIMIT,
        5,
        100,
        TimeInForce.IOC,
        0,
        90,
        "cid-1",
        SelfTradePrevention.EXPIRE_BOTH,
    ),
    req.NewOrder(7, "BTCUSDT", Side.BUY, OrderType.MARKET, quote_qty=10**40),
    req.CancelOrder(7, "BTCUSDT", 3, ""),
    req.CancelAllOrders(7, "BTCUSDT"),
    req.AmendOrder(7, "BTCUSDT", 3, 101, 4),
    req.Deposit(7, "ETH", 123456789012345678901234567890),
    req.Adjust(7, "ETH", -(10**25), "refund of a fee"),
    req.AddAsset("ETH", 18),
    MARKET,
    req.SetMarketStatus("BTCUSDT", MarketStatus.HALT),
    req.CreateUser("a@b.c", "$argon2id$v=19$..."),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_round_trip_is_exact(request_: req.Request) -> None:
    seq, ts, back = decode(encode(41, 1_700_000_000_123, request_))
    assert (seq, ts, back) == (41, 1_700_000_000_123, request_)
    assert type(back) is type(request_)
    for got, want in zip(back, request_, strict=True):
        assert type(got) is type(want)


def test_big_amounts_use_the_exact_encoding() -> None:
    assert encode(1, 1, req.Deposit(1, "ETH", 10**30)).startswith(b"J")
    assert not encode(1, 1, req.Deposit(1, "ETH", 10**18)).startswith(b"J")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[1,2]",
        b"[1,2,99,0]",
        b'[1,2,9,"BTCUSDT","BOGUS"]',
        b'[1,2,5,1,"ETH",1.5]',
        b'[1,2,5,true,"ETH",1]',
        b'[1,2,10,null,"x"]',
        b'[1,2,1,1,"BTCUSDT","UP","LIMIT",1,1,"GTC",0,0,"",null]',
        b'[1,2,8,"not a spec"]',
    ],
)
def test_malformed_records_are_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)
