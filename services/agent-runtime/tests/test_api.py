"""The handoff admin API backoffice-api uses: bearer token, 404 for unknown leads, idempotent PUT/DELETE."""

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"

AUTH = {"Authorization": "Bearer dev-service-token"}
OURS = {"company_id": COMPANY}
OTHER = "cmp_01J8Z0P1F7K4V6E9QW3M0N1XXX"


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
        response = await agent.http.get("/v1/leads/lead_nope/handoff", headers=AUTH, params=OURS)
    assert response.status_code == 404


async def test_handoff_is_off_by_default_then_set_and_released(make_agent):
    async with make_agent() as agent:
        lead_id = await _lead(agent)
        initial = (await agent.http.get(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)).json()
        put = await agent.http.put(
            f"/v1/leads/{lead_id}/handoff",
            headers=AUTH,
            json={"company_id": COMPANY, "reason": "cliente VIP", "requested_by": "ana"},
        )
        again = await agent.http.put(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)
        released = await agent.http.delete(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)
        after = (await agent.http.get(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)).json()
    assert initial["active"] is False and initial["reason"] is None
    assert put.status_code == 200 and put.json()["reason"] == "cliente VIP"
    assert again.json()["since"] == put.json()["since"]
    assert released.json()["active"] is False and released.json()["ended_at"] is not None
    assert after["active"] is False and after["reason"] == "cliente VIP"


async def test_custom_admin_token_is_the_only_one_accepted(make_agent):
    async with make_agent(admin_token="s3cret") as agent:
        lead_id = await _lead(agent)
        default = await agent.http.get(f"/v1/leads/{lead_id}/handoff", headers=AUTH, params=OURS)
        custom = await agent.http.get(
            f"/v1/leads/{lead_id}/handoff", headers={"Authorization": "Bearer s3cret"}, params=OURS
        )
    assert default.status_code == 401 and custom.status_code == 200


async def test_another_companys_lead_is_404_and_left_alone(make_agent):
    """Issue #20 finding 3: the token is shared by every caller, so the lead's company is checked too."""
    theirs = {"company_id": OTHER}
    async with make_agent() as agent:
        lead_id = await _lead(agent)
        path = f"/v1/leads/{lead_id}/handoff"
        read = await agent.http.get(path, headers=AUTH, params=theirs)
        taken = await agent.http.put(path, headers=AUTH, params=theirs)
        taken_by_body = await agent.http.put(path, headers=AUTH, json={"company_id": OTHER})
        released = await agent.http.delete(path, headers=AUTH, params=theirs)
        unnamed = await agent.http.get(path, headers=AUTH)
        ours = (await agent.http.get(path, headers=AUTH, params=OURS)).json()
    assert [r.status_code for r in (read, taken, taken_by_body, released)] == [404, 404, 404, 404]
    assert read.json()["error"] == {"code": "not_found", "message": f"no lead {lead_id}"}  # as an unknown id
    assert unnamed.status_code == 422
    assert ours["active"] is False  # nothing was set by the other company
