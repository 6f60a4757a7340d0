"""What the connected NATS server can really do, detected once at start-up.

Older servers accept requests for features they do not have and silently ignore them: on
2.9, a per-message TTL (``Nats-TTL``, ``allow_msg_ttl``) is stored and never expires, and an
"atomic" batch is stored message by message even if it is never committed. So callers ask
``ServerFeatures`` (or call :meth:`ServerFeatures.require`) instead of trusting the server to
refuse. The probe is the server's version from its INFO and the JetStream API level from
``account_info().api.level`` (``None`` before 2.11, ``5`` on 2.15).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

__all__ = ["MissingFeatureError", "ServerFeatures", "detect_features", "parse_version"]

# First server version with each feature (NATS release notes; the 2.9/2.15 rows are tested in
# tests/integration/test_nats_features.py).
_SINCE: dict[str, tuple[int, int, int]] = {
    "multi_filter_subjects": (2, 10, 0),  # several filter subjects on one consumer
    "per_key_ttl": (2, 11, 0),  # Nats-TTL header / kv.create(msg_ttl=) / allow_msg_ttl
    "subject_delete_markers": (2, 11, 0),  # KV limit markers: watchers see TTL expiry
    "consumer_pause": (2, 11, 0),
    "atomic_batch": (2, 12, 0),  # Nats-Batch-* headers, allow_atomic streams
    "fast_batch": (2, 14, 0),
}
# Features from 2.11 on are also announced through the JetStream API level: a server that
# reports a version >= 2.11 but no API level is treated as not having them.
_NEEDS_API_LEVEL = frozenset(name for name, since in _SINCE.items() if since >= (2, 11, 0))


class MissingFeatureError(RuntimeError):
    """The connected server lacks a feature this code path relies on."""


def parse_version(text: str) -> tuple[int, int, int]:
    """``"2.9.10"`` / ``"v2.15.1-beta"`` -> ``(2, 9, 10)``."""
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    if m is None:
        raise ValueError(f"not a NATS server version: {text!r}")
    return int(m[1]), int(m[2]), int(m[3])


@dataclass(frozen=True, slots=True)
class ServerFeatures:
    version: tuple[int, int, int]
    api_level: int | None
    jetstream: bool
    max_payload: int
    multi_filter_subjects: bool
    per_key_ttl: bool
    subject_delete_markers: bool
    consumer_pause: bool
    atomic_batch: bool
    fast_batch: bool

    @classmethod
    def from_server(
        cls, version: str, api_level: int | None, *, jetstream: bool = True, max_payload: int
    ) -> ServerFeatures:
        v = parse_version(version)

        def has(name: str) -> bool:
            if v < _SINCE[name]:
                return False
            return name not in _NEEDS_API_LEVEL or api_level is not None

        return cls(
            version=v,
            api_level=api_level,
            jetstream=jetstream,
            max_payload=max_payload,
            multi_filter_subjects=has("multi_filter_subjects"),
            per_key_ttl=has("per_key_ttl"),
            subject_delete_markers=has("subject_delete_markers"),
            consumer_pause=has("consumer_pause"),
            atomic_batch=has("atomic_batch"),
            fast_batch=has("fast_batch"),
        )

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    def require(self, *names: str) -> None:
        """Raise :class:`MissingFeatureError` unless every named feature is present."""
        missing = []
        for name in names:
            value = getattr(self, name, None)
            if not isinstance(value, bool):
                raise ValueError(f"unknown NATS feature {name!r}")
            if not value:
                missing.append(name)
        if missing:
            since = ", ".join(f"{n} (needs {'.'.join(map(str, _SINCE[n]))}+)" for n in missing)
            raise MissingFeatureError(
                f"NATS server {self.version_text} (API level {self.api_level}) lacks {since}"
            )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["version"] = self.version_text
        return d


async def detect_features(nc: NATS, js: JetStreamContext) -> ServerFeatures:
    """Probe the connected server. Raises :class:`MissingFeatureError` without JetStream."""
    info: dict[str, Any] = dict(nc._server_info)
    version = str(info.get("version", ""))
    if not info.get("jetstream", False):
        raise MissingFeatureError(f"NATS server {version} does not have JetStream enabled (-js)")
    account = await js.account_info()
    level = account.api.level if account.api is not None else None
    return ServerFeatures.from_server(
        version, level, jetstream=True, max_payload=int(info.get("max_payload", 1 << 20))
    )
