"""Cancelling tasks that wait on nats-py reliably.

Python 3.11's ``asyncio.wait_for`` (inside nats-py's ``next_msg`` and requests) drops a
cancellation that arrives just as the awaited result does; the task then carries on,
"cancelling", and may wait for ever. Loops check :func:`cancelled_while_delivering`
after each wait, and owners stop tasks with :func:`cancel_and_wait`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def cancelled_while_delivering() -> None:
    """Raise CancelledError if this task was cancelled while its wait returned a result."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` (again, until they are done) and wait for them."""
    pending = [t for t in tasks if not t.done()]
    while pending:
        for t in pending:
            t.cancel()
        await asyncio.wait(pending, timeout=0.5)
        pending = [t for t in pending if not t.done()]
