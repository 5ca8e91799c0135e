"""Pairing an instance with WhatsApp (Evolution's connect: QR code, pairing code) and unregistering it,
through the admin API, against the fake Evolution."""

from __future__ import annotations


async def test_connect_of_a_closed_instance_answers_the_fakes_qr_code_and_pairs_on(service) -> None:
    service.fake.instances[service.INSTANCE].connection_state = "close"

    first = await service.http.post(f"/v1/instances/{service.INSTANCE}/connect", headers=service.ADMIN)
    again = await service.http.post(
        f"/v1/instances/{service.INSTANCE}/connect", params={"number": "5511912345678"}, headers=service.ADMIN
    )

    assert first.status_code == again.status_code == 200
    pairing = first.json()
    assert pairing["state"] == "connecting" and pairing["count"] == 1
    assert pairing["qr_code"].startswith("data:image/png;base64,") and pairing["qr_text"].startswith("2@")
    assert pairing["pairing_code"] is None
    assert again.json()["pairing_code"] is not None  # asked with the phone number
    assert service.fake.connects == [service.INSTANCE] * 2
    # Continuing a session does not start another: the same QR session's count.
    assert again.json()["count"] == 1


async def test_connect_of_an_open_instance_answers_its_state(service) -> None:
    answer = await service.http.post(f"/v1/instances/{service.INSTANCE}/connect", headers=service.ADMIN)

    assert answer.json() == {
        "name": service.INSTANCE,
        "state": "open",
        "qr_code": None,
        "qr_text": None,
        "pairing_code": None,
        "count": 0,
    }


async def test_connect_and_remove_of_another_companys_instance_are_404(service) -> None:
    params = {"company_id": "cmp_other"}
    connect = await service.http.post(
        f"/v1/instances/{service.INSTANCE}/connect", params=params, headers=service.ADMIN
    )
    remove = await service.http.delete(
        f"/v1/instances/{service.INSTANCE}", params=params, headers=service.ADMIN
    )

    assert connect.status_code == remove.status_code == 404
    assert (
        await service.http.get(f"/v1/instances/{service.INSTANCE}", headers=service.ADMIN)
    ).status_code == 200


async def test_a_removed_instance_is_unknown_and_unlisted(service) -> None:
    removed = await service.http.delete(
        f"/v1/instances/{service.INSTANCE}", params={"company_id": service.COMPANY}, headers=service.ADMIN
    )
    again = await service.http.delete(f"/v1/instances/{service.INSTANCE}", headers=service.ADMIN)

    assert removed.status_code == 200 and removed.json()["name"] == service.INSTANCE
    assert again.status_code == 404
    assert (
        await service.http.get(f"/v1/instances/{service.INSTANCE}", headers=service.ADMIN)
    ).status_code == 404
    listed = await service.http.get(
        "/v1/instances", params={"company_id": service.COMPANY}, headers=service.ADMIN
    )
    assert listed.json() == []


async def test_instance_admin_needs_the_admin_credential(service) -> None:
    assert (await service.http.post(f"/v1/instances/{service.INSTANCE}/connect")).status_code == 401
    assert (await service.http.delete(f"/v1/instances/{service.INSTANCE}")).status_code == 401
