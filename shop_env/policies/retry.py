"""When to retry a failed API call, and how long to wait: exponential backoff with jitter,
or the server's ``Retry-After`` when it sends one."""
from __future__ import annotations

import datetime
import email.utils
import random
import time
from dataclasses import dataclass
from typing import Mapping

# HTTP statuses worth another try: timeout, conflict, rate limit and server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    """True for 408, 409, 429 and every 5xx."""
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """The wait a server asks for: ``retry-after-ms``, else ``Retry-After`` in seconds or as
    an HTTP date; ``None`` when absent or unreadable."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        if "retry-after-ms" in lower:
            return max(0.0, float(lower["retry-after-ms"]) / 1000.0)
    except ValueError:
        pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # the asctime form carries no zone; HTTP dates are GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class Backoff:
    """Retry limits and waits.

    The wait before retry ``n`` (1-based) is drawn from ``[d/2, d]`` with
    ``d = min(max_s, base_s * 2**(n-1))`` ("equal jitter": waits grow, yet clients that
    failed together do not retry together). A server's ``Retry-After`` replaces it: the
    wait is then what the server asked plus up to 10%, capped at ``max_retry_after_s``.
    """

    max_retries: int = 5
    base_s: float = 0.5
    max_s: float = 20.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_s < 0 or self.max_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("backoff times must be >= 0")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry_after is not None:
            return min(retry_after * (1.0 + 0.1 * rng.random()), self.max_retry_after_s)
        d = min(self.max_s, self.base_s * 2.0 ** (retry - 1))
        return d / 2.0 + rng.random() * d / 2.0
