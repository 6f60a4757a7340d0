"""Who sent a SIGNED request, and whether they may: payload, signature, time, key.

Binance signs the raw query string concatenated, without a separator, to the raw body,
with the ``signature`` item removed (rest-api.md, "SIGNED Endpoint security"). Clients
differ in parameter order (ccxt: insertion order; python-binance: sorted) and encoding
(percent-encoded or raw), so the payload is rebuilt from the bytes as received, never
from parsed parameters. Empty items (``a=1&&b=2``, a trailing ``&``) are dropped, as the
reference verifier does.

The WebSocket API signs differently: all params but ``signature``, sorted, ``k=v`` joined
with ``&``, not percent-encoded (:func:`ws_api_payload`).

Nothing here caches: the caller keeps unsealed HMAC secrets and parsed keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rialto.api import errors
from rialto.domain.users import PERMISSIONS, ApiKey

SIGNATURE = "signature"
TIMESTAMP = "timestamp"
RECV_WINDOW = "recvWindow"

RECV_WINDOW_DEFAULT_MS = 5000
RECV_WINDOW_MAX_MS = 60000
AHEAD_LIMIT_MS = 1000  # a timestamp this far ahead of the server is refused

_TIMESTAMP_RE = re.compile(r"[0-9]{1,20}")
_MICROS_DIGITS = 16  # a 16-digit timestamp is in microseconds, shorter ones in ms
_RECV_WINDOW_RE = re.compile(r"([0-9]{1,20})(?:\.([0-9]{1,3}))?")
RECV_WINDOW_LEGAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,3})?$"
_API_KEY_RE = re.compile(r"[A-Za-z0-9]{1,128}")


# --- REST payload -------------------------------------------------------------


def _items(raw: bytes) -> tuple[list[str], list[str]]:
    """The ``&``-separated items of ``raw`` but the signature's, and the signature values."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.illegal_chars_in_a_parameter() from exc
    kept: list[str] = []
    signatures: list[str] = []
    for item in text.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        if name == SIGNATURE:
            signatures.append(value)
        else:
            kept.append(item)
    return kept, signatures


def signed_payload(raw_query: bytes, raw_body: bytes) -> tuple[str, str]:
    """The payload Binance signs for this request, and the signature sent with it.

    ``raw_query`` is the query string as received (no ``?``), ``raw_body`` the
    ``application/x-www-form-urlencoded`` body as received (``b""`` when none). The
    signature may be in either (the query is looked at first) and is percent-decoded
    (Ed25519 signatures arrive as ``%2B``/``%2F``/``%3D``; a raw ``+`` stays a ``+``).

    Raises -1101 when ``signature`` is sent more than once (anywhere), -1102 when it is
    not sent or empty, -1100 when the bytes are not UTF-8.
    """
    query, query_sigs = _items(raw_query)
    body, body_sigs = _items(raw_body)
    found = query_sigs + body_sigs
    if len(found) > 1:
        raise errors.duplicate_values()
    signature = unquote(found[0]) if found else ""
    if not signature:
        raise errors.mandatory_missing(SIGNATURE)
    return "&".join(query) + "&".join(body), signature


# --- signatures ---------------------------------------------------------------


def hmac_signature(secret: str, payload: str) -> str:
    """HMAC-SHA256 of ``payload`` under ``secret``, lower-case hex (what clients send)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def verify_hmac(secret: str, payload: str, signature: str) -> bool:
    """Whether ``signature`` is the hex HMAC-SHA256 of ``payload`` (any case)."""
    expected = hmac_signature(secret, payload).encode()
    return hmac.compare_digest(expected, signature.lower().encode())


def verify_ed25519(public_key_b64: str, payload: str, signature: str) -> bool:
    """Whether ``signature`` (base64) is an Ed25519 signature of ``payload``.

    ``public_key_b64`` is the base64 of the raw 32-byte key, as ``ApiKey.verifier``
    holds it. Anything undecodable is simply a bad signature.
    """
    try:
        raw_signature = base64.b64decode(signature, validate=True)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        key.verify(raw_signature, payload.encode())
    except (ValueError, InvalidSignature):  # binascii.Error is a ValueError
        return False
    return True


# --- timing -------------------------------------------------------------------


def _timestamp_us(params: Mapping[str, str]) -> int:
    text = params.get(TIMESTAMP)
    if text is None or not _TIMESTAMP_RE.fullmatch(text):
        raise errors.mandatory_missing(TIMESTAMP)
    value = int(text)
    return value if len(text) == _MICROS_DIGITS else value * 1000


def _recv_window_us(params: Mapping[str, str]) -> int:
    text = params.get(RECV_WINDOW)
    if text is None:
        return RECV_WINDOW_DEFAULT_MS * 1000
    match = _RECV_WINDOW_RE.fullmatch(text)
    if match is None:
        raise errors.illegal_chars(RECV_WINDOW, RECV_WINDOW_LEGAL_RANGE)
    whole, fraction = match.group(1), match.group(2) or ""
    window_us = int(whole) * 1000 + int(fraction.ljust(3, "0") or "0")
    if window_us > RECV_WINDOW_MAX_MS * 1000:
        raise errors.bad_recv_window()
    return window_us


def check_timestamp(params: Mapping[str, str], server_ms: int) -> None:
    """Binance's timing rule for a SIGNED request received at ``server_ms``.

    ``timestamp`` is mandatory, in milliseconds, or in microseconds when it has 16
    digits (-1102 when absent or not 1-20 ASCII digits). ``recvWindow`` defaults to
    5000 ms, is at most 60000 and may have up to three decimals (sub-millisecond); any
    other form is -1100 (illegal characters, with the accepted pattern), above 60000 is
    -1131. The request is accepted iff ``timestamp < server + 1000`` and
    ``server - timestamp <= recvWindow``; otherwise -1021, "ahead" when the timestamp
    is 1000 ms or more in the future, "outside of the recvWindow" when it is too old.
    """
    timestamp_us = _timestamp_us(params)
    window_us = _recv_window_us(params)
    server_us = server_ms * 1000
    if timestamp_us >= server_us + AHEAD_LIMIT_MS * 1000:
        raise errors.timestamp_ahead()
    if server_us - timestamp_us > window_us:
        raise errors.timestamp_outside_window()


# --- keys ---------------------------------------------------------------------


def api_key_id(header: str | None) -> str:
    """The key id sent in ``X-MBX-APIKEY``; -2014 when absent or not 1-128 letters/digits."""
    if header is None or not _API_KEY_RE.fullmatch(header):
        raise errors.bad_api_key_format()
    return header


def ip_allowed(allowed: Iterable[str], client_ip: str) -> bool:
    """Whether ``client_ip`` is in ``allowed`` (addresses or CIDR networks; empty: any).

    An IPv4-mapped IPv6 client (``::ffff:10.0.0.1``) counts as its IPv4 address;
    entries that do not parse match nothing.
    """
    entries = tuple(allowed)
    if not entries:
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if address in network:
            return True
    return False


def _live_key(key: ApiKey | None, client_ip: str) -> ApiKey:
    if key is None or key.revoked_ts or not ip_allowed(key.ips, client_ip):
        raise errors.rejected_key()
    return key


def _signature_ok(
    key: ApiKey, secret_of: Callable[[ApiKey], str], payload: str, signature: str
) -> bool:
    if key.kind == "HMAC":
        return verify_hmac(secret_of(key), payload, signature)
    if key.kind == "ED25519":
        return verify_ed25519(key.verifier, payload, signature)
    return False


def authorize(
    key: ApiKey | None,
    secret_of: Callable[[ApiKey], str],
    payload: str,
    signature: str,
    client_ip: str,
    needed: str,
) -> None:
    """Whether the holder of ``key`` may make this SIGNED request; raises if not.

    ``key`` is the key looked up by its id (None when there is none); ``secret_of``
    returns the unsealed HMAC secret of a key (only called for HMAC keys; its errors
    propagate); ``needed`` is one of ``PERMISSIONS``. Checks, in order: the key exists
    and is not revoked, ``client_ip`` is allowed (-2015 for each); the signature
    (-1022); the permission (-2015). The signature comes before the permission so that
    an unsigned request learns nothing about what a key may do.
    """
    _authorize(key, secret_of, payload, signature, client_ip, needed)


def _authorize(
    key: ApiKey | None,
    secret_of: Callable[[ApiKey], str],
    payload: str,
    signature: str,
    client_ip: str,
    needed: str,
) -> ApiKey:
    if needed not in PERMISSIONS:
        raise ValueError(f"{needed!r} is not one of {PERMISSIONS}")
    live = _live_key(key, client_ip)
    if not _signature_ok(live, secret_of, payload, signature):
        raise errors.bad_signature()
    if needed not in live.permissions:
        raise errors.rejected_key()
    return live


def authorize_unsigned(key: ApiKey | None, client_ip: str) -> None:
    """The check of USER_STREAM / MARKET_DATA endpoints: a live key, from an allowed IP."""
    _live_key(key, client_ip)


class KeyCheck:
    """The whole key check of a request: header format, lookup, then :func:`authorize`.

    ``lookup`` finds a key by id (e.g. ``Users.keys.get``); ``secret_of`` unseals (and
    may cache) an HMAC secret.
    """

    def __init__(
        self,
        lookup: Callable[[str], ApiKey | None],
        secret_of: Callable[[ApiKey], str],
    ) -> None:
        self.lookup = lookup
        self.secret_of = secret_of

    def signed(
        self,
        header: str | None,
        payload: str,
        signature: str,
        client_ip: str,
        needed: str,
    ) -> ApiKey:
        """The key of a SIGNED (TRADE / USER_DATA) request; raises -2014/-2015/-1022."""
        key = self.lookup(api_key_id(header))
        return _authorize(key, self.secret_of, payload, signature, client_ip, needed)

    def unsigned(self, header: str | None, client_ip: str) -> ApiKey:
        """The key of a USER_STREAM / MARKET_DATA request; raises -2014/-2015."""
        return _live_key(self.lookup(api_key_id(header)), client_ip)


# --- WebSocket API --------------------------------------------------------------


def _ws_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # JSON true/false, as JavaScript clients write them
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def ws_api_payload(params: Mapping[str, object]) -> str:
    """The payload of a signed WebSocket API request: ``k=v`` of all params but
    ``signature`` (``apiKey`` included), sorted by name, joined with ``&``, not
    percent-encoded.

    Strings are used as sent. Numbers should be parsed with ``parse_float=Decimal`` so
    that ``52000.00`` keeps its text; a float falls back to ``repr``.
    """
    return "&".join(
        f"{name}={_ws_value(params[name])}" for name in sorted(params) if name != SIGNATURE
    )
