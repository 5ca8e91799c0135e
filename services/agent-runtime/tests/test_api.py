"""The handoff admin API backoffice-api uses: bearer token, 404 for unknown leads, idempotent PUT/DELETE."""

AUTH = {"Authorization": "Bearer dev-service-token"}


async def _lead(agent):
    await agent.answer("Oi")
    return (await agent.events("lead.created"))[0].payload.lead_id


async def test_handoff_needs_the_service_token(make_agent):
    async with make_agent() as agent:
        lead_id = await _lead(agent)
        missing = await agent.http.get(f"/v1/leads/{lead_id}/handoff")
        wrong = await agent.http.put(f"/v1/leads/{lead_id}/handoff", headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"


async def test_unknown_lead_is_404(make_agent):
    async with make_agent() as agent:
        response = await agent.http.get("/v1/leads/lead_nope/handoff", headers=AUTH)
    assert response.status_code == 404


async def test_handoff_is_off_by_default_then_set_and_released(make_agent):
    async with make_agent() as agent:
        lead_id = await _lead(agent)
        initial = (await agent.http.get(f"/v1/leads/{lead_id}/handoff", headers=AUTH)).json()
        put = await agent.http.put(
            f"/v1/leads/{lead_id}/handoff",
            headers=AUTH,
            json={"reason": "cliente VIP", "requested_by": "ana"},
        )
        again = await agent.http.put(f"/v1/leads/{lead_id}/handoff", headers=AUTH)
        released = await agent.http.delete(f"/v1/leads/{lead_id}/handoff", headers=AUTH)
        after = (await agent.http.get(f"/v1/leads/{lead_id}/handoff", headers=AUTH)).json()
    assert initial["active"] is False and initial["reason"] is None
    assert put.status_code == 200 and put.json()["reason"] == "cliente VIP"
    assert again.json()["since"] == put.json()["since"]
    assert released.json()["active"] is False and released.json()["ended_at"] is not None
    assert after["active"] is False and after["reason"] == "cliente VIP"


async def test_custom_admin_token_is_the_only_one_accepted(make_agent):
    async with make_agent(admin_token="s3cret") as agent:
        lead_id = await _lead(agent)
        default = await agent.http.get(f"/v1/leads/{lead_id}/handoff", headers=AUTH)
        custom = await agent.http.get(
            f"/v1/leads/{lead_id}/handoff", headers={"Authorization": "Bearer s3cret"}
        )
    assert default.status_code == 401 and custom.status_code == 200
