"""SIGNED requests: the payload as Binance signs it, HMAC/Ed25519, timing, keys, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rialto.api import errors
from rialto.api.errors import ApiError
from rialto.api.signing import (
    KeyCheck,
    api_key_id,
    authorize,
    authorize_unsigned,
    check_timestamp,
    hmac_signature,
    ip_allowed,
    signed_payload,
    verify_ed25519,
    verify_hmac,
    ws_api_payload,
)
from rialto.domain.rejects import BINANCE_ERRORS, Reject
from rialto.domain.users import ApiKey
from rialto.runtime.keyring import SecretBox

# --- the reference's test vectors (binance-compat.md §4.1), verbatim -------------

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
PAYLOAD_HMAC = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
SPLIT_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
SPLIT_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
SPLIT_HMAC = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
WS_PAYLOAD = (
    "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    "&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT"
    "&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)
WS_HMAC = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"


def _raises(code: int, call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


def test_vector_all_in_the_query() -> None:
    raw = f"{PAYLOAD}&signature={PAYLOAD_HMAC}".encode()
    assert signed_payload(raw, b"") == (PAYLOAD, PAYLOAD_HMAC)
    assert hmac_signature(SECRET, PAYLOAD) == PAYLOAD_HMAC
    assert verify_hmac(SECRET, PAYLOAD, PAYLOAD_HMAC)
    assert verify_hmac(SECRET, PAYLOAD, PAYLOAD_HMAC.upper())  # hex in any case


def test_vector_all_in_the_body() -> None:
    payload, signature = signed_payload(b"", f"{PAYLOAD}&signature={PAYLOAD_HMAC}".encode())
    assert (payload, signature) == (PAYLOAD, PAYLOAD_HMAC)


def test_vector_query_and_body_are_concatenated_without_separator() -> None:
    payload, signature = signed_payload(
        SPLIT_QUERY.encode(), f"{SPLIT_BODY}&signature={SPLIT_HMAC}".encode()
    )
    assert payload == SPLIT_QUERY + SPLIT_BODY
    assert signature == SPLIT_HMAC
    assert verify_hmac(SECRET, payload, signature)
    assert not verify_hmac(SECRET, SPLIT_QUERY + "&" + SPLIT_BODY, signature)


def test_signature_in_the_query_with_the_params_in_the_body() -> None:
    payload, signature = signed_payload(
        f"signature={SPLIT_HMAC}&{SPLIT_QUERY}".encode(), SPLIT_BODY.encode()
    )
    assert (payload, signature) == (SPLIT_QUERY + SPLIT_BODY, SPLIT_HMAC)
    assert verify_hmac(SECRET, payload, signature)


def test_python_binance_sorted_params_keep_their_order() -> None:
    params = {"symbol": "LTCBTC", "side": "BUY", "quantity": "1", "timestamp": "1499827319559"}
    wire = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    body = f"{wire}&signature={hmac_signature(SECRET, wire)}".encode()
    payload, signature = signed_payload(b"", body)
    assert payload == "quantity=1&side=BUY&symbol=LTCBTC&timestamp=1499827319559"
    assert verify_hmac(SECRET, payload, signature)


def test_ccxt_insertion_order_with_signature_last_in_the_query() -> None:
    wire = "timestamp=1499827319559&symbol=LTCBTC&orderId=7&recvWindow=10000"
    raw = f"{wire}&signature={hmac_signature(SECRET, wire)}".encode()
    payload, signature = signed_payload(raw, b"")
    assert payload == wire
    assert verify_hmac(SECRET, payload, signature)


def test_percent_encoded_values_are_signed_as_sent() -> None:
    wire = "symbol=BTCUSDT&newClientOrderId=my%2Forder%20%C3%A9&price=1%2E5&timestamp=1"
    raw = f"{wire}&signature={hmac_signature(SECRET, wire)}".encode()
    payload, signature = signed_payload(raw, b"")
    assert payload == wire  # not decoded, not re-encoded
    assert verify_hmac(SECRET, payload, signature)
    assert not verify_hmac(SECRET, "symbol=BTCUSDT&newClientOrderId=my/order é", signature)


def test_raw_utf8_bytes_are_signed_as_their_utf8() -> None:
    wire = "newClientOrderId=café&timestamp=1"
    signature = hmac.new(SECRET.encode(), wire.encode(), hashlib.sha256).hexdigest()
    payload, got = signed_payload(b"", f"{wire}&signature={signature}".encode())
    assert payload == wire
    assert verify_hmac(SECRET, payload, got)


def test_the_signature_item_is_removed_wherever_it_is_and_empty_items_dropped() -> None:
    assert signed_payload(b"a=1&signature=ab&b=2", b"") == ("a=1&b=2", "ab")
    assert signed_payload(b"a=1&", b"b=2&signature=ab&") == ("a=1b=2", "ab")
    # a parameter whose name merely starts with "signature" stays in the payload
    assert signed_payload(b"signatureX=1&signature=ab", b"") == ("signatureX=1", "ab")


@pytest.mark.parametrize(
    ("query", "body"),
    [
        (b"a=1&signature=ab&signature=ab", b""),
        (b"", b"signature=ab&a=1&signature=cd"),
        (b"a=1&signature=ab", b"b=2&signature=ab"),
    ],
)
def test_a_duplicate_signature_is_1101(query: bytes, body: bytes) -> None:
    error = _raises(-1101, lambda: signed_payload(query, body))
    assert error.msg == "Duplicate values for a parameter detected."
    assert error.status == 400


@pytest.mark.parametrize("query", [b"a=1", b"a=1&signature=", b"a=1&signature"])
def test_a_missing_or_empty_signature_is_1102(query: bytes) -> None:
    error = _raises(-1102, lambda: signed_payload(query, b""))
    assert error.msg == (
        "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
    )


def test_bytes_that_are_not_utf8_are_1100() -> None:
    _raises(-1100, lambda: signed_payload(b"a=\xff&signature=ab", b""))


# --- Ed25519 ----------------------------------------------------------------------


def _ed25519() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, base64.b64encode(raw).decode()


def test_ed25519_round_trip_through_a_percent_encoded_signature() -> None:
    private, public_b64 = _ed25519()
    wire = "symbol=BTCUSDT&side=SELL&type=LIMIT&quantity=1&price=0.2&timestamp=1668481559918"
    signature = base64.b64encode(private.sign(wire.encode())).decode()
    raw = f"{wire}&signature={quote(signature, safe='')}".encode()
    payload, got = signed_payload(raw, b"")
    assert (payload, got) == (wire, signature)
    assert verify_ed25519(public_b64, payload, got)
    assert not verify_ed25519(public_b64, payload + "&x=1", got)
    assert not verify_ed25519(_ed25519()[1], payload, got)  # another key


@pytest.mark.parametrize("signature", ["", "not base64!", "QUJD", "é"])
def test_ed25519_garbage_signatures_are_false(signature: str) -> None:
    _, public_b64 = _ed25519()
    assert not verify_ed25519(public_b64, "a=1", signature)


def test_hmac_garbage_signatures_are_false() -> None:
    assert not verify_hmac(SECRET, PAYLOAD, "")
    assert not verify_hmac(SECRET, PAYLOAD, "é" * 64)
    assert not verify_hmac(SECRET, PAYLOAD, PAYLOAD_HMAC[:-1])


# --- timing -------------------------------------------------------------------------

NOW = 1_700_000_000_000  # server time, ms


def _ts(ts: int, window: str | None = None) -> dict[str, str]:
    params = {"timestamp": str(ts)}
    if window is not None:
        params["recvWindow"] = window
    return params


def test_exactly_recv_window_old_is_accepted_one_more_ms_is_not() -> None:
    check_timestamp(_ts(NOW - 5000), NOW)  # default window 5000
    error = _raises(-1021, lambda: check_timestamp(_ts(NOW - 5001), NOW))
    assert error.msg == "Timestamp for this request is outside of the recvWindow."
    check_timestamp(_ts(NOW - 60000, "60000"), NOW)
    check_timestamp(_ts(NOW - 10000, "10000"), NOW)
    _raises(-1021, lambda: check_timestamp(_ts(NOW - 10001, "10000"), NOW))


def test_1000ms_ahead_is_refused_with_the_ahead_message() -> None:
    check_timestamp(_ts(NOW + 999), NOW)
    error = _raises(-1021, lambda: check_timestamp(_ts(NOW + 1000), NOW))
    assert error.msg == "Timestamp for this request was 1000ms ahead of the server's time."
    assert error.status == 400


def test_microsecond_timestamps() -> None:
    now_us = NOW * 1000
    assert len(str(now_us)) == 16
    check_timestamp(_ts(now_us - 5_000_000), NOW)
    check_timestamp(_ts(now_us + 999_999), NOW)
    error = _raises(-1021, lambda: check_timestamp(_ts(now_us + 1_000_000), NOW))
    assert error.msg == errors.MSG_TIMESTAMP_AHEAD
    error = _raises(-1021, lambda: check_timestamp(_ts(now_us - 5_000_001), NOW))
    assert error.msg == errors.MSG_TIMESTAMP_OUTSIDE
    # a recvWindow with decimals counts in microseconds
    check_timestamp(_ts(now_us - 5_000_001, "5000.001"), NOW)
    check_timestamp(_ts(now_us - 5_000_500, "5000.5"), NOW)
    _raises(-1021, lambda: check_timestamp(_ts(now_us - 5_000_501, "5000.5"), NOW))
    _raises(-1021, lambda: check_timestamp(_ts(now_us - 5_000_002, "5000.001"), NOW))


@pytest.mark.parametrize("window", ["60001", "60000.001", "99999999"])
def test_a_recv_window_over_60000_is_refused(window: str) -> None:
    error = _raises(-1131, lambda: check_timestamp(_ts(NOW, window), NOW))
    assert error.msg == "recvWindow must be less than 60000"


@pytest.mark.parametrize(
    "window", ["5000.1234", "abc", "-1", "", "1e4", " 5000", "\uff15\uff10\uff10\uff10"]
)
def test_a_malformed_recv_window_is_1100(window: str) -> None:
    error = _raises(-1100, lambda: check_timestamp(_ts(NOW, window), NOW))
    assert error.msg.startswith("Illegal characters found in parameter 'recvWindow'; legal range")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"timestamp": ""},
        {"timestamp": "12a"},
        {"timestamp": "-1"},
        {"timestamp": "1.5"},
        {"timestamp": "1" * 21},
    ],
)
def test_a_missing_or_malformed_timestamp_is_1102(params: dict[str, str]) -> None:
    error = _raises(-1102, lambda: check_timestamp(params, NOW))
    assert error.msg == (
        "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
    )


# --- keys ---------------------------------------------------------------------------

BOX = SecretBox(bytes(range(32)))
HMAC_ID = "H" * 64
ED_ID = "E" * 64


def _hmac_key(**changes: object) -> ApiKey:
    key = ApiKey(HMAC_ID, 1, "HMAC", BOX.seal(SECRET, HMAC_ID), ("read", "trade"), (), 5)
    return key._replace(**changes)  # type: ignore[arg-type]


def _unseal(key: ApiKey) -> str:
    return BOX.unseal(key.verifier, key.api_key)


def _no_secret(key: ApiKey) -> str:
    raise AssertionError("an Ed25519 key has no secret")


def test_key_ids_are_1_to_128_letters_and_digits() -> None:
    assert api_key_id("K" * 64) == "K" * 64
    assert api_key_id("a1" * 64) == "a1" * 64
    for bad in [None, "", "K" * 129, "abc-def", "abc def", "clé", "K" * 63 + "="]:
        error = _raises(-2014, lambda bad=bad: api_key_id(bad))  # type: ignore[misc]
        assert (error.status, error.msg) == (401, "API-key format invalid.")


def test_hmac_key_with_a_good_signature_passes() -> None:
    authorize(_hmac_key(), _unseal, PAYLOAD, PAYLOAD_HMAC, "10.0.0.1", "trade")
    authorize(_hmac_key(), _unseal, PAYLOAD, PAYLOAD_HMAC.upper(), "10.0.0.1", "read")


def test_bad_signature_is_1022() -> None:
    error = _raises(
        -1022, lambda: authorize(_hmac_key(), _unseal, PAYLOAD, SPLIT_HMAC, "1.2.3.4", "trade")
    )
    assert (error.status, error.msg) == (400, "Signature for this request is not valid.")


def _assert_2015(call: Callable[[], object]) -> None:
    error = _raises(-2015, call)
    assert (error.status, error.msg) == (401, "Invalid API-key, IP, or permissions for action.")


def test_unknown_and_revoked_keys_are_2015() -> None:
    _assert_2015(lambda: authorize(None, _unseal, PAYLOAD, PAYLOAD_HMAC, "1.2.3.4", "read"))
    revoked = _hmac_key(revoked_ts=9)
    _assert_2015(lambda: authorize(revoked, _unseal, PAYLOAD, PAYLOAD_HMAC, "1.2.3.4", "read"))
    _assert_2015(lambda: authorize_unsigned(revoked, "1.2.3.4"))
    _assert_2015(lambda: authorize_unsigned(None, "1.2.3.4"))


def test_a_missing_permission_is_2015_but_only_after_the_signature() -> None:
    read_only = _hmac_key(permissions=("read",))
    _assert_2015(lambda: authorize(read_only, _unseal, PAYLOAD, PAYLOAD_HMAC, "1.2.3.4", "trade"))
    _assert_2015(
        lambda: authorize(read_only, _unseal, PAYLOAD, PAYLOAD_HMAC, "1.2.3.4", "withdraw")
    )
    # an unsigned request learns nothing about the key's permissions
    _raises(-1022, lambda: authorize(read_only, _unseal, PAYLOAD, "00", "1.2.3.4", "trade"))


def test_an_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        authorize(_hmac_key(), _unseal, PAYLOAD, PAYLOAD_HMAC, "1.2.3.4", "admin")


IPS = ("10.0.0.0/24", "192.168.1.7", "2001:db8::/32", "not an address")


@pytest.mark.parametrize(
    "client_ip", ["10.0.0.1", "10.0.0.255", "192.168.1.7", "::ffff:10.0.0.9", "2001:db8::5"]
)
def test_allowed_addresses_and_networks_pass(client_ip: str) -> None:
    assert ip_allowed(IPS, client_ip)
    authorize(_hmac_key(ips=IPS), _unseal, PAYLOAD, PAYLOAD_HMAC, client_ip, "trade")
    authorize_unsigned(_hmac_key(ips=IPS), client_ip)


@pytest.mark.parametrize(
    "client_ip", ["10.0.1.1", "192.168.1.8", "::1", "2001:db9::1", "", "garbage", "10.0.0.0/24"]
)
def test_other_addresses_are_2015_even_with_a_good_signature(client_ip: str) -> None:
    assert not ip_allowed(IPS, client_ip)
    key = _hmac_key(ips=IPS)
    _assert_2015(lambda: authorize(key, _unseal, PAYLOAD, PAYLOAD_HMAC, client_ip, "read"))
    _assert_2015(lambda: authorize_unsigned(key, client_ip))


def test_an_empty_allow_list_allows_any_address() -> None:
    assert ip_allowed((), "203.0.113.9")
    assert ip_allowed((), "garbage")


def test_ed25519_key_authorizes_without_asking_for_a_secret() -> None:
    private, public_b64 = _ed25519()
    key = ApiKey(ED_ID, 1, "ED25519", public_b64, ("read", "trade"), (), 5)
    signature = base64.b64encode(private.sign(PAYLOAD.encode())).decode()
    authorize(key, _no_secret, PAYLOAD, signature, "1.2.3.4", "trade")
    _raises(-1022, lambda: authorize(key, _no_secret, PAYLOAD, PAYLOAD_HMAC, "1.2.3.4", "trade"))


def test_key_check_looks_up_a_well_formed_id_only() -> None:
    looked_up: list[str] = []
    keys = {HMAC_ID: _hmac_key(ips=("10.0.0.0/8",))}

    def lookup(key_id: str) -> ApiKey | None:
        looked_up.append(key_id)
        return keys.get(key_id)

    check = KeyCheck(lookup, _unseal)
    assert check.signed(HMAC_ID, PAYLOAD, PAYLOAD_HMAC, "10.1.2.3", "trade") == keys[HMAC_ID]
    assert check.unsigned(HMAC_ID, "10.1.2.3") == keys[HMAC_ID]
    _raises(-2014, lambda: check.signed("bad key!", PAYLOAD, PAYLOAD_HMAC, "10.1.2.3", "read"))
    _raises(-2014, lambda: check.unsigned(None, "10.1.2.3"))
    assert looked_up == [HMAC_ID, HMAC_ID]
    _raises(-2015, lambda: check.signed("X" * 64, PAYLOAD, PAYLOAD_HMAC, "10.1.2.3", "read"))
    _raises(-2015, lambda: check.signed(HMAC_ID, PAYLOAD, PAYLOAD_HMAC, "11.0.0.1", "read"))
    _raises(-1022, lambda: check.signed(HMAC_ID, PAYLOAD, SPLIT_HMAC, "10.1.2.3", "read"))


# --- WebSocket API ------------------------------------------------------------------


def test_ws_api_vector_from_the_reference() -> None:
    params: dict[str, object] = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000000",
        "price": "52000.00",
        "recvWindow": 100,
        "timestamp": 1645423376532,
        "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "signature": WS_HMAC,
    }
    assert ws_api_payload(params) == WS_PAYLOAD
    assert verify_hmac(SECRET, ws_api_payload(params), WS_HMAC)


def test_ws_api_values_are_not_percent_encoded() -> None:
    params: dict[str, object] = {
        "timestamp": 1,
        "newClientOrderId": "a/b c&é",
        "price": Decimal("52000.00"),
        "omitZeroBalances": True,
        "qty": 0.5,
        "apiKey": "k",
    }
    assert ws_api_payload(params) == (
        "apiKey=k&newClientOrderId=a/b c&é&omitZeroBalances=true&price=52000.00&qty=0.5&timestamp=1"
    )


# --- error bodies -------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(Reject))
def test_every_reject_maps_through_binance_errors(reason: Reject) -> None:
    error = errors.from_reject(reason)
    assert (error.code, error.msg) == BINANCE_ERRORS[reason]
    assert error.body() == {"code": error.code, "msg": error.msg}
    assert error.status == (401 if error.code == -2015 else 400)


def test_error_wording_and_statuses() -> None:
    assert errors.unknown().status == 400
    assert errors.unknown(execution_unknown=True).status == 503
    assert errors.illegal_chars("symbol", "^[A-Z0-9-_.]{1,20}$").msg == (
        "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."
    )
    assert errors.more_than_hours(24).msg == "More than 24 hours between startTime and endTime."
    assert errors.too_much_precision("price").msg == "Parameter 'price' has too much precision."
    assert errors.param_empty("symbol").msg == "Parameter 'symbol' was empty."
    assert errors.unread_params(3, 4).msg == (
        "Not all sent parameters were read; read '3' parameter(s) but was sent '4'."
    )
    assert errors.unknown_order().body() == {"code": -2011, "msg": "Unknown order sent."}
    assert errors.no_such_order().body() == {"code": -2013, "msg": "Order does not exist."}
    assert errors.invalid_listen_key().msg == "This listenKey does not exist."
    banned = errors.ip_banned(1_700_000_120_000, 120)
    assert (banned.status, banned.headers()) == (418, {"Retry-After": "120"})
    assert "IP banned until 1700000120000." in banned.msg
    assert errors.bad_signature().headers() == {}
