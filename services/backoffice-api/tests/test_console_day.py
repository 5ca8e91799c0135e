"""One lead's whole day through the console, in a real headless Chromium, against backoffice-api served by
uvicorn over the real Redis. What the other services would publish (the lead, its messages, the contract made
and signed, the Purchase reported to Meta) is published on the bus as they publish it; what backoffice-api asks
of them over HTTP (handoff, the operator's reply, the contract, the QR code) reaches the conftest stand-ins,
extended here with autentique-service's follow-up routes and evolution-manager's connect.

The operator signs in, sees the lead arrive live and unread, finds it by phone, reads the conversation (a photo
with its caption, the qualification), hands it off, replies (a double click sends once), sets the owner and a
note; moves the deal through the pipeline (a stale edit is a clear 412 message), sends the contract from the
deal page, sees it signed with the signed PDF's link and the Purchase reported; pairs a WhatsApp number by its
QR code. Screenshots of every page go to ``CONSOLE_SCREENSHOTS`` (``.artifacts/console/`` by default)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import eventbus
import httpx
import pytest
import uvicorn
from backoffice_api.apikeys import ApiKeys
from backoffice_api.keyspace import Keyspace
from eventbus import Bus, Envelope, Keys
from eventbus.payloads import (
    ContractCreated,
    ContractSigned,
    ConversionReported,
    LeadCreated,
    LeadQualified,
    MessageReceived,
    MessageSent,
    OutgoingMessage,
)
from eventbus.server import free_port
from eventbus.testing import samples
from ulid import ULID

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
COMPANY, OTHER = "cmp_A", "cmp_B"
PHONE = "+5511987650001"
SCREENSHOTS = Path(
    os.environ.get("CONSOLE_SCREENSHOTS", Path(__file__).parents[3] / ".artifacts" / "console")
)
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


def run(coroutine: Any) -> Any:
    """Run a coroutine on a loop of its own: Playwright's sync API holds this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get, as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="pt-BR")
    page = context.new_page()
    page.dialogs = []  # alert/confirm/prompt: a lead's markup must never open one
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


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


class Served:
    """The app under uvicorn in a thread, and what the producers would write (as the test's admin user)."""

    def __init__(self, app: Any, settings: Any, admin_url: str) -> None:
        self.settings, self.admin_url, self._app, self.url = settings, admin_url, app, ""

    def __enter__(self) -> Served:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def key(self, company: str = COMPANY, scopes: tuple[str, ...] = OPERATOR) -> str:
        async def create() -> str:
            redis = eventbus.connect(self.admin_url, decode_responses=True)
            try:
                keys = ApiKeys(redis, Keyspace(Keys(self.settings.bus_prefix, self.settings.bus_live_prefix)))
                limits = {"rate_per_minute": 100_000, "burst": 10_000}
                secret, _ = await keys.create(company_id=company, scopes=set(scopes), name="Ana", **limits)
                return secret
            finally:
                await redis.aclose()

        return str(run(create()))

    def publish(self, *payloads: Any, source: str) -> list[Envelope[Any]]:
        events = [Envelope.new(p, source=source, company_id=COMPANY) for p in payloads]

        async def send() -> None:
            settings = eventbus.BusSettings(
                prefix=self.settings.bus_prefix, live_prefix=self.settings.bus_live_prefix
            )
            async with Bus.from_url(self.admin_url, source="tests", settings=settings) as bus:
                for event in events:
                    await bus.publish(event)

        run(send())
        return events

    def call(self, method: str, path: str, key: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.url}{path}", headers={"X-API-Key": key}, timeout=10, **kwargs)
        assert answer.is_success, answer.text
        return answer


@pytest.fixture
def served(make_app, settings, redis_url, upstreams) -> Iterator[Served]:
    desk = Desk(upstreams)
    upstreams._autentique, upstreams._evolution = desk.on_autentique, desk.on_evolution
    upstreams.desk = desk
    with Served(make_app(), settings, redis_url) as running:
        yield running


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def a_photo_with_caption() -> MessageReceived:
    sample = samples.message_received(lead=PHONE, body="Foto do salão que eu gostei — cabe 120 pessoas?")
    media = {"type": "image", "mime_type": "image/jpeg", "url": "https://mmg.whatsapp.net/x.enc"}
    return MessageReceived.model_validate(
        sample.model_dump(by_alias=True) | {"media": media, "contact_name": "Maria Souza"}
    )


def test_one_leads_whole_day_through_the_console(page, served, upstreams):
    key = served.key()
    page.goto(f"{served.url}/console/")
    page.get_by_label("Chave de API").fill(key)
    page.get_by_role("button", name="Entrar").click()
    expect(page.locator("#live")).to_have_text("ao vivo")

    # The lead arrives live, and its first message marks it unread.
    lead_id = f"lead_{ULID()}"
    created = LeadCreated(
        lead_id=lead_id, company_id=COMPANY, channel="whatsapp", source="ads", lead_external_id=f"wa:{PHONE}"
    )
    served.publish(created, source="agent-runtime")
    row = page.locator(f'tr[data-lead="{lead_id}"]')
    expect(row).to_contain_text(f"wa:{PHONE}")
    served.publish(a_photo_with_caption(), source="evolution-manager")
    expect(row).to_contain_text("Foto do salão")
    expect(row).to_have_class("fresh unread")
    qualified = LeadQualified(
        lead_id=lead_id,
        company_id=COMPANY,
        score=0.9,
        criteria=["date", "guests", "budget"],
        summary="casamento",
    )
    served.publish(qualified, source="agent-runtime")
    expect(row).to_contain_text("qualified")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # all of it live
    shot(page, "inbox")

    # Found by the name the contact gave WhatsApp, and by phone in another spelling.
    page.get_by_label("Telefone ou nome").fill("maria sou")
    page.get_by_role("button", name="Buscar", exact=True).click()
    # the name as it matched (folded: GET /v1/leads/search/name answers matched_name), then the contact
    expect(page.locator("#search-result")).to_have_text(f"maria souza · wa:{PHONE}")
    page.get_by_label("Telefone ou nome").fill("+55 (11) 98765-0001")
    page.get_by_role("button", name="Buscar", exact=True).click()
    page.locator("#search-result").get_by_role("link", name=f"wa:{PHONE}").click()

    # The conversation: the photo and its caption, the qualification; hand off.
    expect(page.get_by_role("heading", name="Conversa")).to_be_visible()
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Foto do salão que eu gostei — cabe 120 pessoas?")
    expect(timeline.locator(".media")).to_contain_text("image/jpeg")
    expect(timeline).to_contain_text("Maria Souza")
    expect(page.locator("#qualification")).to_contain_text("data, convidados, orçamento")
    page.get_by_label("Motivo").fill("quer visitar o salão")
    page.get_by_role("button", name="Passar para humano").click()
    expect(page.locator("#handoff-state")).to_contain_text("Com um humano — quer visitar o salão")

    # The reply: a double click sends one request, with one Idempotency-Key.
    sends: list[Any] = []
    page.on(
        "request", lambda r: sends.append(r) if r.url.endswith("/messages") and r.method == "POST" else None
    )
    page.get_by_role("textbox", name="Responder").fill("Cabe sim! Podemos marcar uma visita no sábado?")
    page.locator("#reply-send").dblclick()
    expect(page.locator("main").get_by_role("status").first).to_contain_text("Mensagem enviada")
    assert len(sends) == 1 and sends[0].headers["idempotency-key"].startswith("console-")
    assert [r["text"] for r in upstreams.replies] == ["Cabe sim! Podemos marcar uma visita no sábado?"]
    expect(page.get_by_role("textbox", name="Responder")).to_have_value("")
    # agent-runtime publishes the operator's message; the timeline shows it as a human's.
    reply = MessageSent(
        instance_id="ins_1",
        to=PHONE.lstrip("+"),
        messages=[OutgoingMessage(text="Cabe sim! Podemos marcar uma visita no sábado?")],
        author="operator",
    )
    served.publish(reply, source="agent-runtime")
    expect(timeline.locator("li.a-human")).to_contain_text("Podemos marcar uma visita")

    # Owner and a note.
    page.get_by_label("Responsável", exact=True).fill("Ana")
    page.get_by_role("button", name="Salvar").click()
    expect(page.locator("main").get_by_role("status").first).to_contain_text("Responsável: Ana")
    page.get_by_label("Nota", exact=True).fill("Prefere sábado de manhã")
    page.get_by_role("button", name="Adicionar nota").click()
    expect(page.locator("#notes")).to_contain_text("Prefere sábado de manhã")
    expect(page.get_by_role("button", name="Adicionar nota")).to_be_enabled()  # ready for the next one
    shot(page, "conversation")

    # The deal (made by the agent's flow or a seller through the API), moved through the pipeline.
    body = {"lead_id": lead_id, "value": 18000, "event": {"type": "casamento", "guests": 120}}
    deal = served.call("POST", "/v1/deals", key, json=body).json()
    page.goto(f"{served.url}/console/#/pipeline")
    card = page.locator(f'li[data-deal="{deal["deal_id"]}"]')
    expect(page.locator('section[data-stage="new"]')).to_contain_text("R$\u00a018.000,00")
    card.get_by_role("button", name="→ Qualificado").click()
    expect(
        page.locator('section[data-stage="qualified"]').locator(f'[data-deal="{deal["deal_id"]}"]')
    ).to_be_visible()
    # Someone else moves it while this board is open: the board's next move is refused, and says so.
    served.call("PUT", f"/v1/deals/{deal['deal_id']}/stage", key, json={"stage": "proposal"})
    card.get_by_role("button", name="→ Proposta").click()
    expect(page.locator("#pipeline-status")).to_contain_text("Outra pessoa mudou este negócio")
    expect(
        page.locator('section[data-stage="proposal"]').locator(f'[data-deal="{deal["deal_id"]}"]')
    ).to_be_visible()
    shot(page, "pipeline")

    # The deal page: send the contract (a double click asks once).
    card.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Negócio", exact=True)).to_be_visible()
    page.get_by_label("Nome do assinante").fill("Maria Souza")
    page.get_by_label("E-mail").fill("maria@example.com")
    page.get_by_role("button", name="Enviar contrato").dblclick()
    expect(page.locator("#contract-status")).to_contain_text("Assinantes 0/1")
    made = [r for r in upstreams.requests if r.method == "POST" and r.url.path == "/v1/contracts"]
    assert len(made) == 1 and len(upstreams.contracts) == 1
    [contract] = upstreams.contracts.values()
    served.publish(
        ContractCreated(
            contract_id=contract["contract_id"], deal_id=deal["deal_id"], company_id=COMPANY, value=18000,
            currency="BRL", lead_id=lead_id, status="pending",
        ),
        source="autentique-service",
    )  # fmt: skip
    expect(page.locator("#deal-stage")).to_have_text("Contrato enviado")
    page.get_by_role("button", name="Lembrar assinantes").click()
    expect(page.locator("#deal-status")).to_contain_text("Lembrete enviado a: 1")

    # Signed at Autentique: the deal is won, the signed PDF is a link, the Purchase was reported.
    upstreams.sign(contract["contract_id"])
    contract["status"] = "signed"
    [signed] = served.publish(
        ContractSigned(
            contract_id=contract["contract_id"], deal_id=deal["deal_id"], company_id=COMPANY,
            signed_at=datetime.now(UTC), value=18000, currency="BRL", lead_id=lead_id,
        ),
        source="autentique-service",
    )  # fmt: skip
    expect(page.locator("#deal-stage")).to_have_text("Ganho")
    expect(page.locator("#contract-status")).to_contain_text("Assinantes 1/1")
    served.publish(
        ConversionReported(
            company_id=COMPANY, source_event_id=signed.id, source_type="contract.signed", lead_id=lead_id,
            deal_id=deal["deal_id"], contract_id=contract["contract_id"], outcome="sent", event_name="Purchase",
            value=18000, currency="BRL", reported_at=datetime.now(UTC),
        ),
        source="facebook-capi",
    )  # fmt: skip
    reported = page.locator("#deal-conversions")
    expect(reported).to_contain_text("Purchase")
    expect(reported).to_contain_text("sent")
    expect(page.locator("#stage-history")).to_contain_text("Contrato enviado → Ganho")
    pdf = page.locator("#signed-pdf")
    pdf.click()
    expect(pdf).to_have_attribute(
        "href", f"https://api.autentique.com.br/documentos/{contract['document_id']}/assinado.pdf"
    )
    shot(page, "deal")

    # A WhatsApp number paired by its QR code, shown as an image.
    upstreams.instances["loja"] = {
        "instance_id": "ins_1", "name": "loja", "company_id": COMPANY, "channel": "whatsapp", "status": "close",
    }  # fmt: skip
    page.goto(f"{served.url}/console/#/instances")
    page.locator('[data-instance="loja"]').get_by_role("button", name="Conectar").click()
    qr = page.get_by_role("img", name="QR code para conectar loja")
    expect(qr).to_have_attribute("src", QR)
    assert qr.evaluate("img => img.complete && img.naturalWidth") == 29 * 6  # the CSP let the data: URL load
    shot(page, "instances")
    page.goto(f"{served.url}/console/#/ops")
    expect(page.locator("#unknown-outcomes")).to_contain_text("Nenhum resultado desconhecido.")
    shot(page, "ops")
    page.goto(f"{served.url}/console/#/metrics")
    expect(page.locator('main[data-ready="metrics"]')).to_be_attached()
    shot(page, "metrics")
    assert page.dialogs == []

    # Another company's key sees none of it.
    page.get_by_role("button", name="Sair").click()
    page.get_by_label("Chave de API").fill(served.key(OTHER))
    page.get_by_role("button", name="Entrar").click()
    expect(page.locator("#live")).to_have_text("ao vivo")
    page.goto(f"{served.url}/console/#/inbox")
    expect(page.locator('main[data-ready="inbox"]')).to_be_attached()
    assert PHONE not in page.locator("main").inner_text()
    page.goto(f"{served.url}/console/#/pipeline")
    expect(page.locator('main[data-ready="pipeline"]')).to_be_attached()
    assert "18.000" not in page.locator("main").inner_text()
    page.goto(f"{served.url}/console/#/deal/{deal['deal_id']}")
    expect(page.get_by_role("alert")).to_contain_text("404")


def test_buttons_the_keys_scopes_do_not_allow_are_disabled_with_the_reason(page, served):
    lead_id = f"lead_{ULID()}"
    external = "wa:+5511900000009"
    created = LeadCreated(
        lead_id=lead_id, company_id=COMPANY, channel="whatsapp", source="ads", lead_external_id=external
    )
    served.publish(created, source="agent-runtime")
    deal = served.call("POST", "/v1/deals", served.key(), json={"lead_id": lead_id, "value": 5000}).json()
    reader = served.key(
        scopes=("leads:read", "deals:read", "contracts:read", "instances:read", "events:read")
    )
    page.goto(f"{served.url}/console/#/lead/{lead_id}")
    page.get_by_label("Chave de API").fill(reader)
    page.get_by_role("button", name="Entrar").click()
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
    key = served.key()
    deals = []
    for phone in ("+5511900000001", "+5511900000002"):
        lead_id = f"lead_{ULID()}"
        created = LeadCreated(
            lead_id=lead_id,
            company_id=COMPANY,
            channel="whatsapp",
            source="organic",
            lead_external_id=f"wa:{phone}",
        )
        served.publish(created, source="agent-runtime")
        deals.append(served.call("POST", "/v1/deals", key, json={"lead_id": lead_id, "value": 9000}).json())
    lost, signing = deals
    contract = {"signers": [{"name": "João", "email": "joao@example.com", "delivery": "email"}]}
    served.call("POST", f"/v1/deals/{signing['deal_id']}/contract", key, json=contract)
    page.goto(f"{served.url}/console/#/pipeline")
    page.get_by_label("Chave de API").fill(key)
    page.get_by_role("button", name="Entrar").click()

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
