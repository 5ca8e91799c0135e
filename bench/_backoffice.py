"""What the backoffice-api benchmarks share: the API as a spawned process, an API key, and redis-server's CPU.

``backoffice_leads.py``, ``backoffice_deals.py`` and ``console_first_page.py`` measure different pages of the
same process; keeping how it is started and keyed in one place keeps their figures comparable.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

COMPANY = "cmp_bench"
PREFIX = "bench"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def api_main(redis_url: str, port: int) -> None:
    """backoffice-api under uvicorn, as ``python -m backoffice_api`` runs it (its consumer included)."""
    import uvicorn
    from backoffice_api.app import create_app
    from backoffice_api.settings import Settings
    from servicekit.logging import configure_logging

    settings = Settings(redis_url=redis_url, bus_prefix=PREFIX, port=port, consumer_name="bench")
    configure_logging("backoffice-api", level="WARNING")
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False)


async def make_key(redis_url: str, scopes: Iterable[str], *, rate_per_minute: int, burst: int) -> str:
    """A key of the bench company; the rate limits set high enough that the bucket never answers 429."""
    from backoffice_api.apikeys import ApiKeys
    from backoffice_api.keyspace import Keyspace
    from eventbus import Keys, connect

    redis = connect(redis_url, decode_responses=True)
    try:
        secret, _ = await ApiKeys(redis, Keyspace(Keys(PREFIX))).create(
            company_id=COMPANY, scopes=set(scopes), rate_per_minute=rate_per_minute, burst=burst
        )
        return secret
    finally:
        await redis.aclose()


def redis_cpu(redis_url: str) -> float:
    """redis-server's CPU seconds so far (``INFO cpu``): per request, it does not depend on the neighbours."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
