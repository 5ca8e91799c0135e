"""Every service answers /healthz, /readyz and /metrics, and says honestly when Redis is out of reach."""

import importlib

import httpx
import pytest
from asgi_lifespan import LifespanManager
from servicekit.secretbox import generate_key

SERVICES = {
    "backoffice_api": 8000,
    "evolution_manager": 8001,
    "agent_runtime": 8002,
    "facebook_capi": 8003,
    "autentique_service": 8004,
}


def build(package: str, **settings):
    app_module = importlib.import_module(f"{package}.app")
    settings_module = importlib.import_module(f"{package}.settings")
    return app_module.create_app(settings_module.Settings(secrets_keys=generate_key(), **settings))


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("package", SERVICES)
async def test_health_readiness_and_metrics_answer(package: str, redis_url: str) -> None:
    app = build(package, redis_url=redis_url)
    async with LifespanManager(app), client(app) as http:
        assert (await http.get("/healthz")).json()["status"] == "ok"
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"] is True
        assert "eventbus_published_total" in (await http.get("/metrics")).text


@pytest.mark.parametrize("package", SERVICES)
async def test_not_ready_but_alive_when_redis_is_unreachable(package: str) -> None:
    app = build(package, redis_url="redis://127.0.0.1:1/0")
    async with LifespanManager(app), client(app) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] is False
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize(("package", "port"), SERVICES.items())
def test_each_service_has_its_own_default_port(package: str, port: int) -> None:
    assert importlib.import_module(f"{package}.settings").Settings().port == port


@pytest.mark.parametrize("package", SERVICES)
async def test_in_production_docs_and_metrics_are_off_unless_asked_for(package: str) -> None:
    """`/docs` and `/openapi.json` publish the internal APIs' shape and `/metrics` every company's activity: a
    production process serves neither by default; `<PREFIX>_DOCS` turns the first on, `<PREFIX>_METRICS_TOKEN`
    serves the second to that bearer only."""
    quiet = build(package, redis_url="redis://127.0.0.1:1/0", wolfgang_env="production")
    async with client(quiet) as http:
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
            assert (await http.get(path)).status_code == 404, path
        assert (await http.get("/healthz")).status_code == 200
    token = "scraper-credential-0123456789"
    asked = build(
        package, redis_url="redis://127.0.0.1:1/0", wolfgang_env="production", docs=True, metrics_token=token
    )
    async with client(asked) as http:
        assert (await http.get("/openapi.json")).status_code == 200
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer dev-service-token"})
        assert wrong.status_code == 401
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "python_info" in scraped.text
