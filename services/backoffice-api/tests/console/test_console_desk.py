"""The sales desk's actions through the console in a real headless Chromium, against backoffice-api over the
real Redis, its upstreams the conftest stand-ins extended here with autentique-service's follow-up routes and
evolution-manager's connect: buttons a key's scopes do not allow are disabled with the reason; a deal lost with
a reason; a contract cancelled only after a confirmation; a WhatsApp number paired by its QR code. One lead's
whole day against the real services is ``tests/e2e/test_console_day.py``."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eventbus import Envelope
from eventbus.payloads import LeadCreated
from ulid import ULID

expect = pytest.importorskip("playwright.sync_api").expect

COMPANY = "cmp_A"
OPERATOR = (
    "leads:read", "leads:write", "deals:read", "deals:write", "contracts:read", "contracts:write",
    "instances:read", "metrics:read", "events:read", "ops:admin", "admin",
)  # fmt: skip


def qr_like_png(size: int = 29, scale: int = 6) -> str:
    """A QR-looking black-and-white PNG as a data: URL (what evolution-manager relays is Evolution's QR image):
    three finder squares and a fixed pattern, made here so the page and its screenshot show a real image."""

    def dark(x: int, y: int) -> bool:
        for fx, fy in ((0, 0), (size - 7, 0), (0, size - 7)):
            if fx <= x < fx + 7 and fy <= y < fy + 7:
                ring = max(abs(x - fx - 3), abs(y - fy - 3))
                return ring != 2
        return (x * 7 + y * 13 + x * y) % 5 < 2

    pixels = size * scale
    rows = b"".join(
        b"\x00" + bytes(0 if dark(x // scale, y // scale) else 255 for x in range(pixels))
        for y in range(pixels)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", pixels, pixels, 8, 0, 0, 0, 0)  # 8-bit greyscale
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


QR = qr_like_png()


class Desk:
    """autentique-service's follow-up routes and evolution-manager's connect, over the conftest stand-ins."""

    def __init__(self, upstreams: Any) -> None:
        self.upstreams = upstreams
        self.autentique, self.evolution = upstreams._autentique, upstreams._evolution
        self.reminders: list[str] = []

    def on_autentique(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        if len(parts) != 5 or parts[4] not in ("reminders", "signed-file", "cancel"):
            return self.autentique(request)
        contract = next(c for c in self.upstreams.contracts.values() if c["contract_id"] == parts[3])
        if parts[4] == "signed-file":
            url = f"https://api.autentique.com.br/documentos/{contract['document_id']}/assinado.pdf"
            return httpx.Response(200, json={"contract_id": parts[3], "url": url})
        if parts[4] == "cancel":
            contract["status"] = "cancelled"
            return httpx.Response(200, json=contract)
        self.reminders.append(request.headers["idempotency-key"])
        pending = sum(1 for s in contract["signers"] if s["status"] != "signed")
        return httpx.Response(200, json={"contract_id": parts[3], "signers": pending})

    def on_evolution(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/connect"):
            name = request.url.path.split("/")[3]
            pairing = {"name": name, "state": "connecting", "qr_code": QR, "qr_text": "2@abc", "count": 1}
            return httpx.Response(200, json=pairing | {"pairing_code": None})
        return self.evolution(request)


@pytest.fixture
def served(serve, upstreams) -> Iterator[Any]:
    desk = Desk(upstreams)
    upstreams._autentique, upstreams._evolution = desk.on_autentique, desk.on_evolution
    upstreams.desk = desk
    with serve() as running:
        yield running


def created(phone: str, source: str = "ads") -> Envelope[Any]:
    payload = LeadCreated(
        lead_id=f"lead_{ULID()}", company_id=COMPANY, channel="whatsapp", source=source,
        lead_external_id=f"wa:{phone}",
    )  # fmt: skip
    return Envelope.new(payload, source="agent-runtime", company_id=COMPANY)


def test_buttons_the_keys_scopes_do_not_allow_are_disabled_with_the_reason(page, served):
    arrived = created("+5511900000009")
    lead_id = arrived.payload.lead_id
    served.publish(arrived)
    body = {"lead_id": lead_id, "value": 5000}
    deal = served.call("POST", "/v1/deals", served.key(scopes=OPERATOR), json=body).json()
    reader = served.key(
        scopes=("leads:read", "deals:read", "contracts:read", "instances:read", "events:read")
    )
    served.sign_in(page, reader, f"#/lead/{lead_id}")
    expect(page.locator("#reply-send")).to_be_disabled()
    expect(page.locator("#reply-send")).to_have_attribute("title", "Sua chave não tem o escopo leads:write")
    expect(page.locator("#reply-why")).to_have_text("Sua chave não tem o escopo leads:write")
    page.goto(f"{served.url}/console/#/pipeline")
    move = page.locator(f'li[data-deal="{deal["deal_id"]}"]').get_by_role("button", name="→ Qualificado")
    expect(move).to_be_disabled()
    expect(move).to_have_attribute("title", "Sua chave não tem o escopo deals:write")
    page.goto(f"{served.url}/console/#/deal/{deal['deal_id']}")
    expect(page.get_by_role("button", name="Enviar contrato")).to_be_disabled()
    expect(page.locator("#deal-contract .why")).to_have_text("Sua chave não tem o escopo contracts:write")


def test_a_deal_is_lost_with_a_reason_and_a_contract_cancelled_only_after_a_confirmation(
    page, served, upstreams
):
    key = served.key(scopes=OPERATOR)
    deals = []
    for phone in ("+5511900000001", "+5511900000002"):
        arrived = created(phone, source="organic")
        served.publish(arrived)
        body = {"lead_id": arrived.payload.lead_id, "value": 9000}
        deals.append(served.call("POST", "/v1/deals", key, json=body).json())
    lost, signing = deals
    contract = {"signers": [{"name": "João", "email": "joao@example.com", "delivery": "email"}]}
    served.call("POST", f"/v1/deals/{signing['deal_id']}/contract", key, json=contract)
    served.sign_in(page, key, "#/pipeline")

    card = page.locator(f'li[data-deal="{lost["deal_id"]}"]')
    card.get_by_role("button", name="Marcar perdido").click()
    expect(page.locator("#pipeline-status")).to_have_text(
        "Diga o motivo da perda."
    )  # nothing sent without one
    card.get_by_label("Motivo da perda").fill("fechou com outro buffet")
    card.get_by_role("button", name="Marcar perdido").click()
    column = page.locator('section[data-stage="lost"]')
    expect(column.locator(f'[data-deal="{lost["deal_id"]}"]')).to_contain_text("fechou com outro buffet")

    page.goto(f"{served.url}/console/#/deal/{signing['deal_id']}")
    expect(page.locator("#contract-status")).to_contain_text("pending")
    page.get_by_role("button", name="Cancelar contrato").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancelar", exact=True).click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    assert not [
        r for r in upstreams.requests if r.url.path.endswith("/cancel")
    ]  # the dialog's no: nothing sent
    page.get_by_role("button", name="Cancelar contrato").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Sim").click()
    expect(page.locator("#deal-status")).to_have_text("Contrato cancelado")
    expect(page.locator("#contract-status")).to_contain_text("cancelled")
    expect(page.get_by_role("button", name="Lembrar assinantes")).to_be_disabled()


def test_a_whatsapp_number_is_paired_by_its_qr_code_shown_as_an_image(page, served, upstreams, screenshot):
    served.sign_in(page, served.key(scopes=OPERATOR))
    upstreams.instances["loja"] = {
        "instance_id": "ins_1", "name": "loja", "company_id": COMPANY, "channel": "whatsapp", "status": "close",
    }  # fmt: skip
    page.goto(f"{served.url}/console/#/instances")
    page.locator('[data-instance="loja"]').get_by_role("button", name="Conectar").click()
    qr = page.get_by_role("img", name="QR code para conectar loja")
    expect(qr).to_have_attribute("src", QR)
    assert qr.evaluate("img => img.complete && img.naturalWidth") == 29 * 6  # the CSP let the data: URL load
    screenshot(page, "instances-qr")
