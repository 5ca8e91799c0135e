"""An operator's follow-ups on a sent contract: cancel (at Autentique, once, never signed afterwards),
remind the signers (once per Idempotency-Key, unknown outcomes recorded, never resent blindly), and the
signed PDF's URL once signed."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import httpx
from fakes.autentique_schema import signature_resource

REMIND = {"Idempotency-Key": "remind-1"}


async def test_cancel_closes_and_deletes_the_document_at_autentique_once(service) -> None:
    contract = (await service.create()).json()

    first = await service.http.post(f"/v1/contracts/{contract['contract_id']}/cancel", headers=service.auth)
    again = await service.http.post(f"/v1/contracts/{contract['contract_id']}/cancel", headers=service.auth)

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "cancelled"
    document = contract["document_id"]
    assert service.fake.mutations == [("updateDocument", document), ("deleteDocument", document)]
    assert not service.fake.documents[document].signable
    assert (await service.get(contract["contract_id"])).json()["status"] == "cancelled"


async def test_a_cancelled_contract_never_becomes_signed_and_publishes_nothing(service) -> None:
    contract = (await service.create()).json()
    await service.http.post(f"/v1/contracts/{contract['contract_id']}/cancel", headers=service.auth)
    document = service.fake.documents[contract["document_id"]]

    # Signatures made just before the cancel, delivered after it.
    for signer in document.signers:
        signer.signed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        body = service.webhook_body(
            "signature.accepted", signature_resource(document, signer), event_id=str(uuid4())
        )
        assert (await service.post_webhook(body)).json() == {"status": "superseded"}

    assert await service.events("contract.signed") == []
    assert (await service.get(contract["contract_id"])).json()["status"] == "cancelled"


async def test_a_signed_contract_cannot_be_cancelled(service) -> None:
    contract = (await service.create()).json()
    for index in range(2):
        await service.fake.sign(contract["document_id"], index)

    answer = await service.http.post(f"/v1/contracts/{contract['contract_id']}/cancel", headers=service.auth)

    assert answer.status_code == 409
    assert service.fake.mutations == []


async def test_cancel_of_an_unknown_contract_is_404(service) -> None:
    answer = await service.http.post(
        "/v1/contracts/ctr_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1/cancel", headers=service.auth
    )
    assert answer.status_code == 404


async def test_remind_resends_to_the_unsigned_signers_once_per_idempotency_key(service) -> None:
    contract = (await service.create()).json()
    await service.fake.sign(contract["document_id"], 0)
    url = f"/v1/contracts/{contract['contract_id']}/reminders"

    first = await service.http.post(url, headers=service.auth | REMIND)
    retried = await service.http.post(url, headers=service.auth | REMIND)

    assert first.status_code == retried.status_code == 200
    assert first.json() == retried.json() == {"contract_id": contract["contract_id"], "signers": 1}
    unsigned = service.fake.documents[contract["document_id"]].signers[1].public_id
    assert service.fake.mutations == [("resendSignatures", unsigned)]


async def test_a_second_reminder_within_autentiques_cool_down_is_429_and_a_later_one_goes_out(
    service,
) -> None:
    contract = (await service.create()).json()
    url = f"/v1/contracts/{contract['contract_id']}/reminders"
    await service.http.post(url, headers=service.auth | REMIND)

    too_soon = await service.http.post(url, headers=service.auth | {"Idempotency-Key": "remind-2"})
    service.fake.resend_cooldown_seconds = 0
    later = await service.http.post(url, headers=service.auth | {"Idempotency-Key": "remind-2"})

    assert too_soon.status_code == 429 and too_soon.json()["error"]["code"] == "resent_recently"
    assert later.status_code == 200
    assert len(service.fake.mutations) == 4  # two signers, twice


async def test_a_reminder_whose_answer_was_lost_is_recorded_unknown_and_not_resent(service) -> None:
    contract = (await service.create()).json()
    url = f"/v1/contracts/{contract['contract_id']}/reminders"
    # The answer is lost after Autentique acted: the connection drops once the fake handled the request.
    real = service.fake.resend

    def resend_then_drop(public_ids: list[str]) -> str | None:
        real(public_ids)
        raise httpx.RemoteProtocolError("server disconnected without sending a response")

    service.fake.resend = resend_then_drop  # type: ignore[method-assign]
    first = await service.http.post(url, headers=service.auth | REMIND)
    service.fake.resend = real  # type: ignore[method-assign]
    retried = await service.http.post(url, headers=service.auth | REMIND)

    assert first.status_code == 502
    assert retried.status_code == 502
    assert len(service.fake.mutations) == 2
    listed = (await service.http.get("/ops/outcomes", headers=service.auth)).json()
    assert [o["effect"] for o in listed] == ["resend_signatures"]


async def test_the_signed_pdf_url_is_given_once_signed(service) -> None:
    contract = (await service.create()).json()
    url = f"/v1/contracts/{contract['contract_id']}/signed-file"
    before = await service.http.get(url, headers=service.auth)
    for index in range(2):
        await service.fake.sign(contract["document_id"], index)

    after = await service.http.get(url, headers=service.auth)

    assert before.status_code == 409
    assert after.status_code == 200
    assert after.json()["url"].endswith(f"/documentos/{contract['document_id']}/assinado.pdf")


async def test_a_cancel_autentique_did_not_confirm_is_cancelling_never_signs_and_a_retry_finishes_it(
    service,
) -> None:
    contract = (await service.create()).json()
    url = f"/v1/contracts/{contract['contract_id']}/cancel"
    token, service.fake.api_token = service.fake.api_token, "revoked"  # Autentique refuses our token a while

    failed = await service.http.post(url, headers=service.auth)
    meanwhile = (await service.get(contract["contract_id"])).json()["status"]
    for index in range(2):  # the signers still have working links: Autentique was not told
        await service.fake.sign(contract["document_id"], index)
    service.fake.api_token = token
    retried = await service.http.post(url, headers=service.auth)

    assert failed.status_code == 502 and meanwhile == "cancelling"
    assert await service.events("contract.signed") == []
    assert retried.status_code == 200 and retried.json()["status"] == "cancelled"
    document = contract["document_id"]
    assert service.fake.mutations == [("updateDocument", document), ("deleteDocument", document)]
