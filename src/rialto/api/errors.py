"""Binance error bodies: ``{"code": <negative int>, "msg": "<text>"}`` with an HTTP status.

Clients match these by code *and* by exact text (ccxt maps several messages verbatim,
Hummingbot checks code plus text), so every message below is Binance's own wording.
HTTP 500 is never used: Binance's 5xx means "execution status unknown", so -1000 is a
400 unless the outcome of a command really is unknown (then 503, as -1007 is).

Wording checked against the compatibility reference (``binance-compat.md`` §2.6, §4.2):
-1000, -1003 (weight), -1007, -1013 (filter failures), -1015, -1021 (both), -1022,
-1100 (parameter form), -1101 (duplicates), -1102 (parameter form), -1103, -1111
(parameter form), -1120, -1121, -1125, -1127, -2010 (its messages), -2011 ("Unknown
order sent."), -2013, -2014, -2015.

Wording not verified against the reference (it gives none, or only a truncated one);
taken from Binance's Spot ``errors.md`` as found in the public-code index:

* -1003 "Way too much request weight used; IP banned until %s. Please use WebSocket
  Streams for live updates to avoid bans." (the reference truncates it after "until %s.");
  ``%s`` is the end of the ban in epoch milliseconds, as Binance sends it.
* -1100 "Illegal characters found in a parameter." (the form without a parameter name)
* -1102 "Param '%s' or '%s' must be sent, but both were empty/null!"
* -1104 "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'."
* -1105 "Parameter '%s' was empty."
* -1106 "Parameter '%s' sent when not required."
* -1114 "TimeInForce parameter sent when not required."
* -1115 "Invalid timeInForce."
* -1116 "Invalid orderType."
* -1117 "Invalid side."
* -1128 "Combination of optional parameters invalid."
* -1130 "Data sent for parameter '%s' is not valid."
* -1131 "recvWindow must be less than 60000" (no full stop; from the Spot CHANGELOG of
  2019 and ccxt's error table; the current Spot ``errors.md`` no longer lists -1131).
"""

from __future__ import annotations

from rialto.domain.rejects import BINANCE_ERRORS, Reject

# HTTP statuses a Binance error travels with.
BAD_REQUEST = 400
UNAUTHORIZED = 401
IP_BANNED = 418
TOO_MANY_REQUESTS = 429
UNAVAILABLE = 503

# Codes whose HTTP status is not 400.
_STATUS_OF_CODE = {-2014: UNAUTHORIZED, -2015: UNAUTHORIZED}

MSG_UNKNOWN = "An unknown error occurred while processing the request."
MSG_TIMEOUT = (
    "Timeout waiting for response from backend server. "
    "Send status unknown; execution status unknown."
)
MSG_TOO_MUCH_WEIGHT = (
    "Too much request weight used; current limit is %s request weight per %s. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
MSG_IP_BANNED = (
    "Way too much request weight used; IP banned until %s. "
    "Please use WebSocket Streams for live updates to avoid bans."
)
MSG_TOO_MANY_ORDERS = "Too many new orders; current limit is %s orders per %s."
MSG_FILTER_FAILURE = "Filter failure: %s"
MSG_TIMESTAMP_OUTSIDE = "Timestamp for this request is outside of the recvWindow."
MSG_TIMESTAMP_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
MSG_BAD_SIGNATURE = "Signature for this request is not valid."
MSG_ILLEGAL_CHARS = "Illegal characters found in parameter '%s'; legal range is '%s'."
MSG_ILLEGAL_CHARS_ANY = "Illegal characters found in a parameter."
MSG_DUPLICATE_VALUES = "Duplicate values for a parameter detected."
MSG_MANDATORY = "Mandatory parameter '%s' was not sent, was empty/null, or malformed."
MSG_EITHER_MANDATORY = "Param '%s' or '%s' must be sent, but both were empty/null!"
MSG_UNKNOWN_PARAM = "An unknown parameter was sent."
MSG_UNREAD_PARAMS = "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'."
MSG_PARAM_EMPTY = "Parameter '%s' was empty."
MSG_PARAM_NOT_REQUIRED = "Parameter '%s' sent when not required."
MSG_TOO_MUCH_PRECISION = "Parameter '%s' has too much precision."
MSG_TIF_NOT_REQUIRED = "TimeInForce parameter sent when not required."
MSG_INVALID_TIF = "Invalid timeInForce."
MSG_INVALID_ORDER_TYPE = "Invalid orderType."
MSG_INVALID_SIDE = "Invalid side."
MSG_INVALID_INTERVAL = "Invalid interval."
MSG_INVALID_SYMBOL = "Invalid symbol."
MSG_INVALID_LISTEN_KEY = "This listenKey does not exist."
MSG_MORE_THAN_HOURS = "More than %s hours between startTime and endTime."
MSG_BAD_PARAM_COMBO = "Combination of optional parameters invalid."
MSG_INVALID_PARAMETER = "Data sent for parameter '%s' is not valid."
MSG_BAD_RECV_WINDOW = "recvWindow must be less than 60000"
MSG_UNKNOWN_ORDER = "Unknown order sent."
MSG_NO_SUCH_ORDER = "Order does not exist."
MSG_BAD_API_KEY_FORMAT = "API-key format invalid."
MSG_REJECTED_KEY = "Invalid API-key, IP, or permissions for action."


class ApiError(Exception):
    """One Binance error: ``code`` and ``msg`` for the body, ``status`` for HTTP.

    ``retry_after_s`` is set on rate-limit errors (429/418): the HTTP layer sends it as
    the ``Retry-After`` header.
    """

    def __init__(
        self,
        code: int,
        msg: str,
        status: int = BAD_REQUEST,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, int | str]:
        return {"code": self.code, "msg": self.msg}

    def headers(self) -> dict[str, str]:
        """The extra response headers this error calls for (``Retry-After``)."""
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(self.retry_after_s)}

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.msg!r}, status={self.status})"


# --- 10xx: general ----------------------------------------------------------


def unknown(*, execution_unknown: bool = False) -> ApiError:
    """-1000; 503 only when a command may or may not have taken effect."""
    return ApiError(-1000, MSG_UNKNOWN, UNAVAILABLE if execution_unknown else BAD_REQUEST)


def timeout() -> ApiError:
    """-1007: the engine did not answer in time; the command's outcome is unknown."""
    return ApiError(-1007, MSG_TIMEOUT, UNAVAILABLE)


def too_much_weight(limit: int, retry_after_s: int, interval: str = "1 MINUTE") -> ApiError:
    """-1003 with 429: the request-weight limit is exceeded for this window."""
    return ApiError(
        -1003, MSG_TOO_MUCH_WEIGHT % (limit, interval), TOO_MANY_REQUESTS, retry_after_s
    )


def ip_banned(until_ms: int, retry_after_s: int) -> ApiError:
    """-1003 with 418: the address is banned until ``until_ms`` (epoch ms)."""
    return ApiError(-1003, MSG_IP_BANNED % until_ms, IP_BANNED, retry_after_s)


def too_many_orders(limit: int, interval: str) -> ApiError:
    """-1015 with 429 (Binance sends no Retry-After for the order-count limits)."""
    return ApiError(-1015, MSG_TOO_MANY_ORDERS % (limit, interval), TOO_MANY_REQUESTS)


def from_reject(reason: Reject) -> ApiError:
    """The Binance error for an engine/domain refusal (``BINANCE_ERRORS``).

    400 for all of them, except the key refusal (-2015), which is a 401 as it is when
    raised by :func:`rejected_key`.
    """
    code, msg = BINANCE_ERRORS[reason]
    return ApiError(code, msg, _STATUS_OF_CODE.get(code, BAD_REQUEST))


def filter_failure(name: str) -> ApiError:
    """-1013 "Filter failure: NAME" for a filter that has no ``Reject`` of its own."""
    return ApiError(-1013, MSG_FILTER_FAILURE % name)


def timestamp_outside_window() -> ApiError:
    return ApiError(-1021, MSG_TIMESTAMP_OUTSIDE)


def timestamp_ahead() -> ApiError:
    return ApiError(-1021, MSG_TIMESTAMP_AHEAD)


def bad_signature() -> ApiError:
    return ApiError(-1022, MSG_BAD_SIGNATURE)


# --- 11xx: request issues ----------------------------------------------------


def illegal_chars(param: str, legal_range: str) -> ApiError:
    """-1100 naming the parameter and the pattern its value must match."""
    return ApiError(-1100, MSG_ILLEGAL_CHARS % (param, legal_range))


def illegal_chars_in_a_parameter() -> ApiError:
    """-1100 when no single parameter can be named (e.g. undecodable bytes)."""
    return ApiError(-1100, MSG_ILLEGAL_CHARS_ANY)


def duplicate_values() -> ApiError:
    return ApiError(-1101, MSG_DUPLICATE_VALUES)


def mandatory_missing(param: str) -> ApiError:
    return ApiError(-1102, MSG_MANDATORY % param)


def either_mandatory(first: str, second: str) -> ApiError:
    """-1102 when one of two parameters (e.g. orderId, origClientOrderId) is required."""
    return ApiError(-1102, MSG_EITHER_MANDATORY % (first, second))


def unknown_param() -> ApiError:
    return ApiError(-1103, MSG_UNKNOWN_PARAM)


def unread_params(read: int, sent: int) -> ApiError:
    return ApiError(-1104, MSG_UNREAD_PARAMS % (read, sent))


def param_empty(param: str) -> ApiError:
    return ApiError(-1105, MSG_PARAM_EMPTY % param)


def param_not_required(param: str) -> ApiError:
    return ApiError(-1106, MSG_PARAM_NOT_REQUIRED % param)


def too_much_precision(param: str) -> ApiError:
    return ApiError(-1111, MSG_TOO_MUCH_PRECISION % param)


def tif_not_required() -> ApiError:
    return ApiError(-1114, MSG_TIF_NOT_REQUIRED)


def invalid_tif() -> ApiError:
    return ApiError(-1115, MSG_INVALID_TIF)


def invalid_order_type() -> ApiError:
    return ApiError(-1116, MSG_INVALID_ORDER_TYPE)


def invalid_side() -> ApiError:
    return ApiError(-1117, MSG_INVALID_SIDE)


def invalid_interval() -> ApiError:
    return ApiError(-1120, MSG_INVALID_INTERVAL)


def invalid_symbol() -> ApiError:
    return ApiError(-1121, MSG_INVALID_SYMBOL)


def invalid_listen_key() -> ApiError:
    return ApiError(-1125, MSG_INVALID_LISTEN_KEY)


def more_than_hours(hours: int) -> ApiError:
    return ApiError(-1127, MSG_MORE_THAN_HOURS % hours)


def bad_param_combo() -> ApiError:
    return ApiError(-1128, MSG_BAD_PARAM_COMBO)


def invalid_parameter(param: str) -> ApiError:
    return ApiError(-1130, MSG_INVALID_PARAMETER % param)


def bad_recv_window() -> ApiError:
    return ApiError(-1131, MSG_BAD_RECV_WINDOW)


# --- 20xx: orders and keys ----------------------------------------------------


def order_rejected(msg: str) -> ApiError:
    """-2010 with one of Binance's NEW_ORDER_REJECTED messages (see ``BINANCE_ERRORS``)."""
    return ApiError(-2010, msg)


def unknown_order() -> ApiError:
    """-2011 "Unknown order sent." (a cancel or amend of an order not found)."""
    return ApiError(-2011, MSG_UNKNOWN_ORDER)


def cancel_rejected(msg: str) -> ApiError:
    """-2011 with another CANCEL_REJECTED message."""
    return ApiError(-2011, msg)


def no_such_order() -> ApiError:
    """-2013 "Order does not exist." (a query of an order not found)."""
    return ApiError(-2013, MSG_NO_SUCH_ORDER)


def bad_api_key_format() -> ApiError:
    return ApiError(-2014, MSG_BAD_API_KEY_FORMAT, UNAUTHORIZED)


def rejected_key() -> ApiError:
    """-2015: unknown or revoked key, address not allowed, or permission missing."""
    return ApiError(-2015, MSG_REJECTED_KEY, UNAUTHORIZED)
