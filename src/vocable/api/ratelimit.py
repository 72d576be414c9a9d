"""Rate limits with `limits`: in memory, or in Redis so that several workers share the counts."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from vocable.api.auth.deps import PrincipalDep
from vocable.api.auth.service import Principal
from vocable.errors import ConfigError, RateLimitedError


class RateLimiter:
    """Moving-window limits keyed by a namespace and identifiers (IP, account, user id).

    Args:
        redis_url: ``redis://…``; None keeps the counts in this process.
        prefix: Key prefix in Redis; apps that share it share the counts.
    """

    def __init__(self, redis_url: str | None, *, prefix: str = "vocable") -> None:
        storage: Storage
        if redis_url:
            scheme = redis_url.split("://", 1)[0]
            if scheme not in ("redis", "rediss", "redis+unix"):
                raise ConfigError(f"VOCABLE_REDIS_URL must be a redis:// URL, not {scheme}://")
            storage = RedisStorage(
                f"async+{redis_url}", implementation="redispy", key_prefix=prefix
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def aclose(self) -> None:
        """Close the Redis connections, if any."""
        bridge: Any = getattr(self.storage, "bridge", None)
        client: Any = getattr(bridge, "storage", None)
        if client is not None:
            await client.aclose()

    async def hit(self, rate: str | RateLimitItem, namespace: str, *identifiers: str) -> None:
        """Count one request against `rate` for each identifier.

        Raises:
            RateLimitedError: ``rate_limited`` (429) with the seconds until one is free again.
        """
        item = parse(rate) if isinstance(rate, str) else rate
        for identifier in identifiers:
            if not await self._limiter.hit(item, namespace, identifier):
                stats = await self._limiter.get_window_stats(item, namespace, identifier)
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimitedError(
                    f"too many requests; try again in {retry} s", retry_after_s=retry
                )


def client_ip(request: Request) -> str:
    """The peer address (proxies are not trusted: X-Forwarded-For is ignored)."""
    return request.client.host if request.client else "unknown"


def get_limiter(request: Request) -> RateLimiter:
    """The app's rate limiter."""
    limiter: RateLimiter = request.app.state.limiter
    return limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


async def hit_expensive(state: Any, user_id: int) -> None:
    """Count one expensive operation of `user_id` (a realtime session, a turn, speech).

    Args:
        state: The app's ``state`` (``request.app.state`` or ``websocket.app.state``).
        user_id: Whose budget it comes out of.

    Raises:
        RateLimitedError: over ``api.expensive_rate``.
    """
    await state.limiter.hit(state.settings.api.expensive_rate, "expensive", str(user_id))


async def expensive(request: Request, principal: PrincipalDep) -> Principal:
    """A dependency that limits expensive routes (turns, speech, transcription) per user."""
    await hit_expensive(request.app.state, principal.user_id)
    return principal


ExpensiveDep = Annotated[Principal, Depends(expensive)]
