"""Single-writer leases in a NATS KV bucket; the revision is the fencing token.

* acquire: ``kv.create(key, holder)`` succeeds only if the key is absent (or deleted).
* renew: ``kv.update(key, holder, last=revision)`` every ``ttl/3`` in a background task.
* release: ``kv.delete(key, last=revision)``.
* expiry: the bucket's TTL (stream ``max_age``). Every renewal writes a new message, which
  restarts the key's age, so the key lives while its holder renews. Per-key TTL is not used:
  NATS 2.9 silently ignores it (see :mod:`rialto.adapters.nats.features`).

The fencing token (:attr:`Lease.token`) is the revision at acquisition. KV revisions are the
bucket stream's sequence numbers, so every later acquisition of any key gets a higher one.
Writers stamp it on what they write (the journal's ``Rialto-Fence``); the journal's
``Nats-Expected-Last-Subject-Sequence`` is what actually rejects a stale writer's append.

Losing the lease is signalled at once (``on_lost`` callback and the :attr:`Lease.lost` event)
when a renewal is refused, or when no renewal has succeeded for ``ttl`` seconds measured from
when the last successful one was *sent* (so the holder gives up no later than the server
could expire the key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

__all__ = ["Lease", "LeaseError", "lease_bucket"]

log = logging.getLogger("rialto.nats.lease")


class LeaseError(RuntimeError):
    """The lease bucket is unusable (e.g. it exists with another TTL)."""


async def lease_bucket(
    js: JetStreamContext, bucket: str, ttl: float, *, replicas: int = 1
) -> KeyValue:
    """The KV bucket ``bucket`` with a bucket-level TTL of ``ttl`` seconds (created if absent)."""
    try:
        kv = await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        try:
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket,
                    ttl=ttl,
                    history=1,
                    storage=StorageType.FILE,
                    replicas=replicas,
                )
            )
        except nats.js.errors.BadRequestError:
            kv = await js.key_value(bucket)  # created concurrently
    status = await kv.status()
    if status.ttl is None or abs(status.ttl - ttl) > 1e-3:
        raise LeaseError(f"KV bucket {bucket} has TTL {status.ttl}s, expected {ttl}s")
    return kv


class Lease:
    """A lease on ``key`` in KV bucket ``bucket`` for ``holder``, expiring ``ttl`` s after the
    last renewal. One object per attempt at holding the key; it can be re-acquired after
    release or loss."""

    def __init__(
        self,
        js: JetStreamContext,
        bucket: str,
        key: str,
        holder: str,
        ttl: float,
        *,
        on_lost: Callable[[str], None] | None = None,
        renew_every: float | None = None,
        request_timeout: float | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be > 0")
        self._js = js
        self.bucket = bucket
        self.key = key
        self.holder = holder
        self.ttl = ttl
        self.renew_every = renew_every if renew_every is not None else ttl / 3
        self._request_timeout = request_timeout if request_timeout is not None else ttl / 3
        self._on_lost = on_lost
        # The stored value names the holder plus a nonce for this object, so that a write whose
        # acknowledgement was lost can be recognised as ours afterwards.
        self._value = f"{holder} {secrets.token_hex(6)}".encode()
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._valid_until = 0.0
        self.token = 0  # revision at acquisition: the fencing token
        self.revision = 0  # current revision (changes on every renewal)
        self.held = False
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self.renewals = 0

    # ------------------------------------------------------------------ queries
    def valid(self) -> bool:
        """Held, and the last successful renewal is younger than ``ttl``."""
        return self.held and time.monotonic() < self._valid_until

    async def current_holder(self) -> tuple[str, int] | None:
        """``(holder, revision)`` of whoever holds the key now, or None."""
        kv = await self._bucket()
        try:
            entry = await kv.get(self.key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        holder = (entry.value or b"").decode().rsplit(" ", 1)[0]
        return holder, int(entry.revision or 0)

    # ------------------------------------------------------------------ lifecycle
    async def acquire(self) -> bool:
        """Try once. True if this holder now holds the lease (renewed in the background)."""
        if self.held:
            return True
        kv = await self._bucket()
        sent = time.monotonic()
        try:
            revision = await kv.create(self.key, self._value)
        except nats.js.errors.KeyWrongLastSequenceError:
            mine = await self._stored_revision(kv)  # an earlier attempt whose ack was lost?
            if mine is None:
                return False
            # Ours, but written at an unknown time: renew now to know when it expires.
            sent = time.monotonic()
            try:
                revision = await kv.update(self.key, self._value, last=mine)
            except nats.js.errors.KeyWrongLastSequenceError:
                return False
        self.token = self.revision = revision
        self.held = True
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._valid_until = sent + self.ttl
        self._task = asyncio.create_task(self._renew_loop(), name=f"lease-{self.key}")
        log.info(
            "lease %s/%s acquired by %s, token %d", self.bucket, self.key, self.holder, revision
        )
        return True

    async def acquire_wait(self, timeout: float | None = None, poll: float | None = None) -> bool:
        """Retry :meth:`acquire` every ``poll`` s (default ttl/6) until it succeeds or
        ``timeout`` s pass."""
        step = poll if poll is not None else self.ttl / 6
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if await self.acquire():
                    return True
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.warning("lease %s/%s: acquire failed: %r", self.bucket, self.key, exc)
            if deadline is not None and time.monotonic() + step > deadline:
                return False
            await asyncio.sleep(step)

    async def release(self) -> None:
        """Stop renewing and delete the key if it is still ours (hand over at once)."""
        was_held = self.held
        await self._stop_renewing()
        self.held = False
        if not was_held or self.lost.is_set():
            return
        kv = await self._bucket()
        try:
            await kv.delete(self.key, last=self.revision)
        except nats.js.errors.APIError as exc:
            log.info("lease %s/%s: release after it moved on: %s", self.bucket, self.key, exc)
        log.info("lease %s/%s released by %s", self.bucket, self.key, self.holder)

    async def abandon(self) -> None:
        """Stop renewing and forget the lease without deleting the key, as a crash does: the
        key lives until the bucket TTL expires it. For tests and drills."""
        await self._stop_renewing()
        self.held = False

    # ------------------------------------------------------------------ internals
    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await lease_bucket(self._js, self.bucket, self.ttl)
        return self._kv

    async def _stop_renewing(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stored_revision(self, kv: KeyValue) -> int | None:
        """The key's revision if its current value is this object's, else None."""
        try:
            entry = await kv.get(self.key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if entry.value != self._value or not entry.revision:
            return None
        return int(entry.revision)

    def _lose(self, reason: str) -> None:
        if not self.held:
            return
        self.held = False
        self.lost_reason = reason
        self.lost.set()
        log.warning("lease %s/%s lost by %s: %s", self.bucket, self.key, self.holder, reason)
        if self._on_lost is not None:
            try:
                self._on_lost(reason)
            except Exception:
                log.exception("lease %s/%s: on_lost callback failed", self.bucket, self.key)

    async def _renew_loop(self) -> None:
        kv = await self._bucket()
        next_renewal = time.monotonic() + self.renew_every
        while self.held:
            now = time.monotonic()
            # Wake for the next renewal, or at the deadline if renewals keep failing.
            await asyncio.sleep(max(0.0, min(next_renewal, self._valid_until) - now))
            now = time.monotonic()
            if now >= self._valid_until:
                self._lose(f"no successful renewal for {self.ttl}s")
                return
            sent = now
            budget = min(self._request_timeout, self._valid_until - now)
            try:
                try:
                    revision = await asyncio.wait_for(
                        kv.update(self.key, self._value, last=self.revision), budget
                    )
                except nats.js.errors.KeyWrongLastSequenceError:
                    mine = await self._stored_revision(kv)  # a renewal whose ack was lost?
                    if mine is None:
                        self._lose("renewal refused: the key expired or another holder took it")
                        return
                    # Ours, written at an unknown time: adopt it and renew again at once.
                    self.revision = mine
                    next_renewal = time.monotonic()
                    continue
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.warning("lease %s/%s: renewal failed: %r", self.bucket, self.key, exc)
                next_renewal = time.monotonic() + min(0.1, self.renew_every)
                continue
            self.revision = revision
            self.renewals += 1
            self._valid_until = sent + self.ttl
            next_renewal = sent + self.renew_every
