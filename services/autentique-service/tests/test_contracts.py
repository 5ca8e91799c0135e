"""The contract store's key layout, as Redis Cluster needs it: every script and transaction touches the keys of
one contract, which share the contract's hash tag; the deal's and the document's pointers are keys of their own."""

from redis.crc import key_slot


def _slot(key: str) -> int:
    return key_slot(key.encode())


async def test_a_contracts_keys_share_one_slot_and_the_pointers_lead_to_it(service) -> None:
    contract = (await service.create()).json()
    await service.fake.sign(contract["document_id"], 0)  # a webhook applied: its event id is remembered
    contract_id, document_id = contract["contract_id"], contract["document_id"]
    prefix = f"{service.settings.bus_prefix}:svc:autentique-service:"

    found = [k.decode() async for k in service.bus.redis.scan_iter(match=f"{prefix}*")]
    names = sorted(k.removeprefix(prefix) for k in found)

    [event_key] = [n for n in names if n.startswith(f"{{{contract_id}}}:webhook-event:")]
    assert names == sorted(
        [
            f"{{{contract_id}}}:contract",
            f"{{{contract_id}}}:document-outcome",  # createDocument's outcome record (issuing.py)
            event_key,
            f"deal:{service.company}:deal_1",
            f"document:{document_id}",
        ]
    )
    tagged = [k for k in found if k.startswith(f"{prefix}{{{contract_id}}}:")]
    assert {_slot(k) for k in tagged} == {_slot(contract_id)}
    assert await service.bus.redis.get(f"{prefix}deal:{service.company}:deal_1") == contract_id.encode()
    assert await service.bus.redis.get(f"{prefix}document:{document_id}") == contract_id.encode()


async def test_a_webhook_for_a_document_its_contract_has_not_recorded_yet_is_unknown(service) -> None:
    """The document's pointer is written before the contract records the document (another slot): a webhook
    in between must not be applied to the contract, nor remembered."""
    contract = (await service.create()).json()
    prefix = f"{service.settings.bus_prefix}:svc:autentique-service:"
    await service.bus.redis.set(f"{prefix}document:doc_in_between", contract["contract_id"])
    body = service.webhook_body(
        "document.finished",
        {"id": "doc_in_between", "signatures": [], "updated_at": "2025-10-21T14:12:41.000000Z"},
    )

    response = await service.post_webhook(body)

    assert response.json() == {"status": "unknown_document"}
    assert (await service.get(contract["contract_id"])).json()["status"] == "sent"
    assert await service.events("contract.signed") == []
