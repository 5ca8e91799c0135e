"""Composition root: builds the bus handle, the stores, the optional language model, and wires the one
handler and the admin routes; nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from functools import partial

import httpx
import servicekit
from eventbus import Subscription
from fastapi import FastAPI

from agent_runtime import SERVICE, agent_settings_api, api, handlers, operator_replies
from agent_runtime.agent_settings import CompanySettings
from agent_runtime.cuts import sweeping
from agent_runtime.handlers import Agent, Clock
from agent_runtime.knowledge import Library
from agent_runtime.leads import Leads
from agent_runtime.llm import LanguageModel
from agent_runtime.pipeline import Pipeline
from agent_runtime.ports import Ports
from agent_runtime.settings import Settings
from agent_runtime.store import Store

#: The handler of each channel agent-runtime consumes, keyed by catalog type: a batch handler each.
REACTIONS: dict[str, Callable[..., Awaitable[Sequence[Exception | None]]]] = {
    "message.received": handlers.answer_messages,
}
#: Messages of one lead, one at a time and in order, across replicas; different leads in parallel.
ORDERING_KEY = ("company_id", "payload.lead_external_id")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = _utc_now,
) -> FastAPI:
    """``transport`` reaches the language model (tests pass a fake); ``clock`` is "now" for dates."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            bus = await stack.enter_async_context(servicekit.bus_for(app, settings, service=SERVICE))
            llm = None
            if settings.llm_url:
                http = await stack.enter_async_context(servicekit.http_client(transport=transport))
                llm = LanguageModel(
                    http,
                    url=settings.llm_url,
                    model=settings.llm_model,
                    api_key=settings.llm_api_key,
                    timeout=settings.llm_timeout,
                    concurrency=settings.llm_concurrency,
                )
            pipeline = Pipeline(bus.redis)
            stack.push_async_callback(pipeline.aclose)
            store = Store(
                pipeline,
                bus.keys,
                conversation_ttl=settings.conversation_ttl,
                answer_ttl=settings.answer_ttl,
                lead_ttl=settings.lead_ttl,
                remembered_leads=settings.remembered_leads,
            )
            # Entered before the consumer, so left after it: the last answers published are cut on the way out.
            await stack.enter_async_context(sweeping(store.sweep, settings.cut_after.total_seconds()))
            leads = Leads(bus, store)
            agent = Agent(
                bus=bus,
                leads=leads,
                store=store,
                settings=settings,
                clock=clock,
                llm=llm,
                knowledge=CompanySettings(bus, Library(settings.knowledge_dir), ttl=settings.settings_ttl),
            )
            app.state.ports = Ports(settings=settings, bus=bus, leads=leads, store=store, agent=agent)
            subscriptions = [
                Subscription(
                    channel,
                    batch_handler=partial(react, agent=agent),
                    ordering_key=ORDERING_KEY,
                    concurrency=settings.concurrency,
                    max_batch=settings.max_batch,
                )
                for channel, react in REACTIONS.items()
            ]
            await stack.enter_async_context(
                servicekit.consuming(
                    app,
                    bus,
                    settings,
                    group=SERVICE,
                    subscriptions=subscriptions,
                )
            )
            yield

    app = FastAPI(title=SERVICE, lifespan=lifespan, **servicekit.docs_options(settings))
    app.include_router(api.router)
    app.include_router(operator_replies.router)
    app.include_router(agent_settings_api.router)
    servicekit.install(app, service=SERVICE, max_body_bytes=settings.max_body_bytes, settings=settings)
    return app
