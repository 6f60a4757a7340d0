"""API keys in the user registry: what is journaled, validated, revoked and restored."""

from __future__ import annotations

import pytest

from rialto.domain import requests as req
from rialto.domain.exchange import Exchange
from rialto.domain.rejects import Reject
from rialto.domain.shards import ControlShard
from rialto.domain.users import ApiKey, Users
from rialto.runtime.codec import decode, encode


def _users() -> Users:
    users = Users()
    users.create(1, "a@x.io", "h")
    return users


def _key(**changes: object) -> ApiKey:
    key = ApiKey("K" * 64, 1, "HMAC", "sealed", ("trade", "read"), ("10.0.0.1",), 5)
    return key._replace(**changes)  # type: ignore[arg-type]


def test_a_key_is_stored_with_sorted_permissions_and_found_while_live() -> None:
    users = _users()
    users.add_key(_key())
    assert users.live_key("K" * 64) == _key(permissions=("read", "trade"))
    assert users.revoke_key(9, 1, "K" * 64)
    assert users.live_key("K" * 64) is None
    assert users.keys["K" * 64].revoked_ts == 9
    assert not users.revoke_key(10, 1, "K" * 64)  # already revoked


@pytest.mark.parametrize(
    "changes",
    [
        {"user_id": 2},
        {"api_key": ""},
        {"kind": "RSA"},
        {"permissions": ()},
        {"permissions": ("read", "admin")},
    ],
)
def test_bad_keys_are_refused_and_change_nothing(changes: dict[str, object]) -> None:
    users = _users()
    with pytest.raises(ValueError):
        users.add_key(_key(**changes))
    assert users.keys == {}


def test_a_key_id_cannot_be_reused_and_only_its_owner_revokes_it() -> None:
    users = _users()
    users.create(2, "b@x.io", "h")
    users.add_key(_key())
    with pytest.raises(ValueError):
        users.add_key(_key(user_id=2))
    assert not users.revoke_key(3, 2, "K" * 64)
    assert users.live_key("K" * 64) is not None


def test_state_round_trips_and_stays_unchanged_without_keys() -> None:
    users = _users()
    assert "keys" not in users.to_state()  # snapshots from before keys keep their hash
    users.add_key(_key())
    users.revoke_key(7, 1, "K" * 64)
    restored = Users.from_state(users.to_state())
    assert restored.keys == users.keys
    assert restored.to_state() == users.to_state()


def test_requests_round_trip_through_the_journal_codec() -> None:
    create = req.CreateApiKey(1, "K" * 64, "ED25519", "cHVi", ("read",), ("::1", "10.0.0.0/8"))
    revoke = req.RevokeApiKey(1, "K" * 64)
    assert decode(encode(3, 4, create)) == (3, 4, create)
    assert decode(encode(5, 6, revoke)) == (5, 6, revoke)


def test_embedded_exchange_and_control_shard_agree() -> None:
    ex, ctl = Exchange(), ControlShard()
    inputs: list[req.Request] = [
        req.CreateUser("a@x.io", "h"),
        req.CreateApiKey(1, "K" * 64, "HMAC", "sealed", ("read",)),
        req.RevokeApiKey(1, "K" * 64),
        req.RevokeApiKey(1, "K" * 64),
    ]
    for seq, r in enumerate(inputs, start=1):
        out = ex.apply(seq, 100 + seq, r)
        step, _ = ctl.apply(seq, 100 + seq, "", 0, seq, r)
        assert step.outcome.reject == out.reject
    assert out.reject is Reject.UNKNOWN_API_KEY
    assert ex.users.to_state() == ctl.users.to_state()
    with pytest.raises(ValueError):  # a key for a user that does not exist: refused
        ex.apply(9, 200, req.CreateApiKey(7, "L" * 64, "HMAC", "s", ("read",)))
