"""Redis adapters: what several gateways share (rate-limit counters, listen keys, sessions,
cached market data)."""

from rialto.adapters.redis.connect import connect_redis

__all__ = ["connect_redis"]
