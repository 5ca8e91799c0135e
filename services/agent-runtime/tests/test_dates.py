"""Dates are read in the company's time zone, against the injected clock."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import structlog
from structlog.testing import capture_logs


async def test_tomorrow_is_read_in_sao_paulo_time(make_agent):
    # 01:00 UTC on the 17th is still 22:00 on the 16th in São Paulo: "amanhã" is the 17th.
    clock = lambda: datetime(2025, 12, 17, 1, 0, tzinfo=UTC)  # noqa: E731
    async with make_agent(clock=clock) as agent:
        reply = await agent.answer("casamento amanhã")
    assert "17 de dezembro de 2025" in reply


async def test_company_time_zone_can_differ(make_agent):
    clock = lambda: datetime(2025, 12, 17, 1, 0, tzinfo=UTC)  # noqa: E731
    async with make_agent(clock=clock, company_timezones={"cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C": "UTC"}) as agent:
        reply = await agent.answer("casamento amanhã")
    assert "18 de dezembro de 2025" in reply


@contextmanager
def debug_level() -> Iterator[None]:
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield
    finally:
        structlog.configure(wrapper_class=wrapper)


async def test_logs_carry_no_message_body_nor_phone_number(make_agent):
    # The line per answered message is at debug level (production logs at info): check that level too.
    with debug_level(), capture_logs() as logs:
        async with make_agent() as agent:
            await agent.answer("casamento secreto em Campinas", phone="+5511912345678")
    text = repr(logs)
    assert "secreto" not in text and "5511912345678" not in text
    assert any(entry["event"] == "message_answered" for entry in logs)
