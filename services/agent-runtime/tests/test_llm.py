"""The optional language model: used when it answers in time, never waited on, never needed."""

import asyncio
import json

import httpx

PHONE = "+5511999990001"


def fake_llm(*, slots=None, delay=0.0, status=200, calls=None):
    """A tiny OpenAI-compatible chat-completions endpoint (httpx.MockTransport)."""

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if calls is not None:
            calls.append(body)
        if delay:
            await asyncio.sleep(delay)
        if status != 200:
            return httpx.Response(status, json={"error": "boom"})
        if body.get("response_format"):
            content = json.dumps(slots or {})
        else:
            content = body["messages"][-1]["content"].replace("Anotado", "Perfeito, anotei")
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": content}}]})

    return httpx.MockTransport(handler)


async def test_model_fills_a_slot_the_rules_missed_and_rephrases(make_agent):
    calls = []
    transport = fake_llm(slots={"guests": 130, "event_type": None}, calls=calls)
    async with make_agent(llm_url="http://llm.test/v1/chat/completions", transport=transport) as agent:
        reply = await agent.answer("casamento, vai ser lotado, cento e poucos")
    assert "130 convidados" in reply and "Perfeito, anotei" in reply
    assert calls[0]["model"] == "gpt-4o-mini" and calls[0]["response_format"] == {"type": "json_object"}


async def test_model_timing_out_falls_back_to_the_rules(make_agent):
    transport = fake_llm(slots={"guests": 999}, delay=5)
    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions", llm_timeout=0.2, transport=transport
    ) as agent:
        reply = await agent.answer("casamento dia 12/03 para 80 pessoas")
    assert "80 convidados" in reply and "casamento" in reply and "999" not in reply


async def test_model_errors_fall_back_to_the_rules(make_agent):
    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions", transport=fake_llm(status=500)
    ) as agent:
        reply = await agent.answer("casamento em Campinas")
    assert "Campinas" in reply


async def test_model_answer_that_does_not_validate_is_ignored(make_agent):
    transport = fake_llm(slots={"guests": "muitos", "date": "ontem"})
    async with make_agent(llm_url="http://llm.test/v1/chat/completions", transport=transport) as agent:
        reply = await agent.answer("aniversário")
    assert "aniversário" in reply


async def test_model_date_in_the_past_is_not_taken(make_agent):
    transport = fake_llm(slots={"date": "2020-01-01"})
    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions", llm_phrase=False, transport=transport
    ) as agent:
        reply = await agent.answer("formatura")
    assert "2020" not in reply and "data" in reply


async def test_model_calls_take_turns_beyond_their_limit_and_every_lead_is_still_answered(make_agent):
    # Hundreds of leads are answered at once; the endpoint gets at most AGENT_LLM_CONCURRENCY calls of them.
    in_flight, most = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        content = (
            json.dumps({}) if json.loads(request.content).get("response_format") else "Oi! Qual é o evento?"
        )
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": content}}]})

    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions",
        llm_concurrency=2,
        transport=httpx.MockTransport(handler),
    ) as agent:
        phones = [f"+55119999900{n:02d}" for n in range(8)]
        await asyncio.gather(*(agent.send("Oi", phone=phone) for phone in phones))
        replies = await asyncio.gather(*(_replied(agent, phone) for phone in phones))
    assert most == 2
    assert all(replies)


async def _replied(agent, phone):
    from eventbus.testing.waiting import eventually

    return await eventually(lambda: agent.replies_to(phone), timeout=10)


async def test_a_burst_beyond_the_model_limit_falls_back_without_opening_the_breaker(make_agent):
    # Waiting for a turn is our own queue, not the endpoint failing: the model stays in use afterwards. Five
    # calls at once (the breaker's threshold) that each got their turn late must not time out together.
    transport = fake_llm(slots={"guests": 130}, delay=0.3)
    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions",
        llm_concurrency=5,
        llm_timeout=1.0,  # 40 calls of 0.3 s, five at a time: the later ones wait longer than this
        transport=transport,
    ) as agent:
        phones = [f"+55119999901{n:02d}" for n in range(20)]
        await asyncio.gather(*(agent.send("casamento dia 12/03 para 80 pessoas", phone=p) for p in phones))
        burst = await asyncio.gather(*(_replied(agent, phone) for phone in phones))
        breaker = agent.app.state.ports.agent.llm._breakers.state("llm")
        reply = await agent.answer("casamento, cento e poucos convidados")
    assert all(burst), "every lead answered, by the rules when its turn did not come in time"
    assert breaker == "closed"
    assert "Perfeito, anotei" in reply, "the model still phrases the replies after the burst"


async def test_the_model_reads_at_most_max_input_chars(make_agent):
    """Issue #20: a 65,536-character message no longer goes whole to the model (nor to the rules)."""
    calls = []
    transport = fake_llm(slots={}, calls=calls)
    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions",
        llm_phrase=False,
        max_input_chars=500,
        transport=transport,
    ) as agent:
        reply = await agent.answer("casamento para 80 pessoas " + "1." * 32_755)
    (extraction,) = calls
    assert len(extraction["messages"][-1]["content"]) <= 500
    assert "80 convidados" in reply


async def test_a_value_the_model_read_is_asked_back_before_it_is_recorded(make_agent):
    """Issue #21 item 5: the model may extract, but the lead confirms before anything is recorded."""
    transport = fake_llm(slots={"guests": 130}, calls=[])
    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions", llm_phrase=False, transport=transport
    ) as agent:
        asked = await agent.answer("casamento, vai ser lotado, cento e poucos")
        confirmed = await agent.answer("sim")
    assert "Seria para 130 convidados?" in asked and "Anotado: casamento." in asked
    assert "Anotado: para 130 convidados" in confirmed


async def test_a_rephrasing_that_adds_a_number_is_refused(make_agent):
    """The model may phrase, never inform: a price or date of its own means the rules' words are sent."""

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("response_format"):
            content = "{}"
        else:
            content = body["messages"][-1]["content"] + " O pacote sai por R$ 5.000, fechamos?"
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": content}}]})

    async with make_agent(
        llm_url="http://llm.test/v1/chat/completions", transport=httpx.MockTransport(handler)
    ) as agent:
        reply = await agent.answer("qual o valor?")
    assert "5.000" not in reply and "vou confirmar com a equipe" in reply
