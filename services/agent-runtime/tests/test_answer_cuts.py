"""An answer, once its events are published, is cut down to a mark in the lead's ``answered`` hash: by the
lead's next commit, by the sweep ``AGENT_CUT_AFTER`` later, or when the service stops. A re-run finding the
mark publishes nothing; one finding the whole answer publishes the same events again (store.py)."""

from datetime import UTC, datetime

from eventbus.testing.waiting import eventually

NOW = datetime(2025, 12, 16, 12, tzinfo=UTC)
PHONE = "+5511999990001"


async def _keys(agent, event_id):
    """The answer's own key and the lead's marks, named as the store names them."""
    lead_id = (await agent.events("lead.created"))[0].payload.lead_id
    store = agent.app.state.ports.store
    lead = (await agent.app.state.ports.leads.find(lead_id)).key
    return store.key(lead, "answer", event_id), store.answered_key(lead), lead


async def test_a_published_answer_is_cut_to_a_mark_by_the_sweep_and_a_rerun_then_sends_nothing(
    make_agent, answer
):
    # A re-run a day later (the bus's processed id forgotten) finds the mark and publishes nothing: no second
    # answer, and none that differs. The mark is ~40 B in the lead's hash, where the answer was ~1 KB.
    async with make_agent() as agent:
        event = await agent.send("Casamento dia 12/03")
        (reply,) = await eventually(lambda: agent.replies_to(PHONE))
        answer_key, answered, lead = await _keys(agent, event.id)
        redis, store = agent.bus.redis, agent.app.state.ports.store
        whole = await redis.get(answer_key)
        assert await store.sweep(0) == 1
        kept, mark, ttl = (
            await redis.exists(answer_key),
            await redis.hget(answered, event.id),
            await redis.pttl(answered),
        )
        await answer(event, agent=agent.app.state.ports.agent)
        replies = await agent.replies_to(PHONE)
        state = await store.load(lead, event.id)
    assert b"wire" in whole  # stored whole before it was published
    assert kept == 0 and mark is not None and int(mark) > 0  # the time it was marked, in seconds
    assert ttl > 7 * 86_400_000  # AGENT_ANSWER_TTL
    assert [r.id for r in replies] == [reply.id]
    assert state.answer is not None and state.answer.events == []
    assert state.conversation.version == 1


async def test_the_leads_next_commit_cuts_its_earlier_answers_with_no_command_of_its_own(make_agent):
    async with make_agent() as agent:
        first = await agent.send("Casamento dia 12/03")
        await eventually(lambda: agent.replies_to(PHONE))
        answer_key, answered, _ = await _keys(agent, first.id)
        whole_before = await agent.bus.redis.exists(answer_key)
        await agent.send("uns 120 convidados")
        await eventually(lambda: _count(agent.replies_to(PHONE), 2))
        cut = await agent.bus.redis.exists(answer_key), await agent.bus.redis.hexists(answered, first.id)
        pending = len(agent.app.state.ports.store.cuts)
    assert whole_before == 1
    assert cut == (0, True)
    assert pending == 1  # the second answer's: for the third message, or the sweep


async def test_every_answer_published_is_cut_when_the_service_stops(make_agent, bus):
    async with make_agent() as agent:
        event = await agent.send("Casamento dia 12/03")
        await eventually(lambda: agent.replies_to(PHONE))
        answer_key, answered, _ = await _keys(agent, event.id)
    assert await bus.redis.exists(answer_key) == 0
    assert await bus.redis.hexists(answered, event.id)


async def test_the_sweep_cuts_only_what_was_published_long_enough_ago(make_agent):
    async with make_agent() as agent:
        event = await agent.send("Casamento dia 12/03")
        await eventually(lambda: agent.replies_to(PHONE))
        answer_key, _, _ = await _keys(agent, event.id)
        store = agent.app.state.ports.store
        swept = await store.sweep(30)
        kept = await agent.bus.redis.exists(answer_key)
    assert (swept, kept) == (0, 1)


async def test_an_answer_not_known_to_be_published_is_sent_again_under_the_same_ids(make_agent, answer):
    # Published, then the process died before the cut (here: it forgets what it published): a re-run after
    # the bus forgot the message appends the very same event again, which each group's processed ids drop;
    # never a second, different answer.
    async with make_agent() as agent:
        event = await agent.send("Casamento dia 12/03")
        (reply,) = await eventually(lambda: agent.replies_to(PHONE))
        agent.app.state.ports.store.cuts.due(0)  # forgotten, as by a process that died
        await answer(event, agent=agent.app.state.ports.agent)
        replies = await agent.replies_to(PHONE)
    assert [r.id for r in replies] == [reply.id, reply.id]
    assert replies[0].payload == replies[1].payload


async def test_a_cut_that_fails_is_kept_for_the_next_sweep(make_agent, monkeypatch):
    async with make_agent() as agent:
        event = await agent.send("Casamento dia 12/03")
        await eventually(lambda: agent.replies_to(PHONE))
        answer_key, _, _ = await _keys(agent, event.id)
        store = agent.app.state.ports.store

        async def unreachable(calls):
            return [ConnectionError("redis went away") for _ in calls]

        with monkeypatch.context() as patched:
            patched.setattr(store._cut, "many", unreachable)
            try:
                await store.sweep(0)
            except ConnectionError:
                pass
            else:
                raise AssertionError("the sweep's error was swallowed")
        still_whole = await agent.bus.redis.exists(answer_key)
        swept = await store.sweep(30)  # given back as due at once, whatever AGENT_CUT_AFTER says
        cut = await agent.bus.redis.exists(answer_key)
    assert (still_whole, swept, cut) == (1, 1, 0)


async def test_a_lead_with_very_many_marks_drops_those_older_than_the_answer_ttl(make_agent):
    async with make_agent() as agent:
        event = await agent.send("Casamento dia 12/03")
        await eventually(lambda: agent.replies_to(PHONE))
        _, answered, _ = await _keys(agent, event.id)
        redis = agent.bus.redis
        nine_days_ago = int(datetime.now(UTC).timestamp()) - 9 * 86_400
        await redis.hset(answered, mapping={f"evt_old{n:04d}": nine_days_ago for n in range(319)})
        await agent.app.state.ports.store.sweep(0)  # the 320th mark: a multiple of 64 past 256
        left = await redis.hkeys(answered)
    assert left == [event.id.encode()]


async def _count(replies, n):
    found = await replies
    return found if len(found) >= n else None
