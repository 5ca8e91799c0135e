"""The catalog's traceability through the contract: both contract events continue the lead's thread
(`correlation_id` from the request), contract.created names the request's cause and contract.signed names
contract.created."""

from __future__ import annotations

LEAD_THREAD = "cor_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"
LEAD_QUALIFIED = "evt_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K2"


async def test_contract_events_carry_the_leads_correlation_and_name_their_causes(service) -> None:
    body = service.request(correlation_id=LEAD_THREAD, causation_id=LEAD_QUALIFIED)
    contract = (await service.create(body)).json()

    for index in range(2):
        await service.fake.sign(contract["document_id"], index)

    [created] = await service.events("contract.created")
    [signed] = await service.events("contract.signed")
    assert (created.correlation_id, created.causation_id) == (LEAD_THREAD, LEAD_QUALIFIED)
    assert (signed.correlation_id, signed.causation_id) == (LEAD_THREAD, created.id)


async def test_a_contract_asked_for_without_a_thread_keeps_one_for_both_its_events(service) -> None:
    contract = (await service.create()).json()

    for index in range(2):
        await service.fake.sign(contract["document_id"], index)

    [created] = await service.events("contract.created")
    [signed] = await service.events("contract.signed")
    assert created.correlation_id.startswith("cor_") and created.causation_id is None
    assert (signed.correlation_id, signed.causation_id) == (created.correlation_id, created.id)


async def test_a_reissued_contract_stays_on_the_leads_thread(service) -> None:
    await service.create(service.request(correlation_id=LEAD_THREAD, causation_id=LEAD_QUALIFIED))

    await service.create(
        service.request(reissue=True, correlation_id=LEAD_THREAD, causation_id=LEAD_QUALIFIED)
    )

    assert [e.correlation_id for e in await service.events("contract.created")] == [LEAD_THREAD] * 2
