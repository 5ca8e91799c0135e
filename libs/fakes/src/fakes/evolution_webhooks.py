"""Evolution API v2 webhooks as the server emits them: payload builders, the `jwt_key` JWT, the retry policy.

Mimics Evolution 2.3.6 (Baileys channel) per /work/shared/reference/evolution-api.md:
envelope and its key order (§4), `jwt_key` → `Authorization: Bearer <HS256 JWT>` with payload
`{iat, exp: iat+600, app: "evolution", action: "webhook"}` (§4 "Authentication of webhooks"),
retries (§4 "Retries": 10 attempts, 5 s doubling to 300 s, ±20 % jitter, none on 400/401/403/404/422),
`byEvents` URL suffixes (§2), `messages.upsert` data incl. `@lid` addressing and the Click-to-WhatsApp
`externalAdReply` (§5, samples 1-3), `connection.update` (§6, sample 4).

Builders are pure functions so that service tests can import them without running the fake.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from fakes.control import Delivery, deliver_with_retries
from fakes.evolution_jwt import decode_webhook_jwt, make_webhook_jwt

__all__ = [
    "DEFAULT_INSTANCE_ID",
    "EvolutionRetryPolicy",
    "WebhookOrigin",
    "ad_referral_webhook",
    "connection_update_webhook",
    "decode_webhook_jwt",
    "deliver_webhook",
    "event_url_suffix",
    "image_message_webhook",
    "lid_for",
    "make_webhook_jwt",
    "message_source",
    "new_message_id",
    "text_message_webhook",
    "webhook_envelope",
]

DEFAULT_INSTANCE_ID = "b0c3f9e8-d813-4d77-b341-0bea1e1210a3"
#: ``pn``: the phone JID; ``lid``: a privacy ``@lid`` with the phone JID in ``remoteJidAlt`` (2.3.5+);
#: ``lid_only``: a ``@lid`` and no phone anywhere (2.2.3+, evolution-api#2466), the lead's number unknown.
Addressing = Literal["pn", "lid", "lid_only"]


@dataclass(frozen=True)
class WebhookOrigin:
    """The envelope fields that describe the sending server and instance (reference §4)."""

    destination: str = "http://localhost:8000/webhooks/evolution"
    sender: str | None = "5511912345678@s.whatsapp.net"
    server_url: str = "http://localhost:8080"
    apikey: str | None = None


def event_url_suffix(event: str) -> str:
    """`messages.upsert` → `messages-upsert`, the path Evolution appends when `byEvents` is on (§2)."""
    return event.replace(".", "_").replace("-", "_").upper().replace("_", "-").lower()


def message_source(message_id: str) -> str:
    """Device guess from the id's shape, as Baileys' `getDevice` does (§5 `source`)."""
    if len(message_id) == 20 and message_id.startswith("3A"):
        return "ios"
    if len(message_id) == 22 and message_id.startswith("3E"):
        return "web"
    if len(message_id) in (21, 32):
        return "android"
    if message_id.startswith("3F") or len(message_id) == 18:
        return "desktop"
    return "unknown"


def new_message_id(device: Literal["android", "ios", "web"] = "android") -> str:
    if device == "ios":
        return "3A" + secrets.token_hex(9).upper()
    if device == "web":
        return "3EB0" + secrets.token_hex(9).upper()
    return secrets.token_hex(16).upper()


def _date_time(now: datetime | None) -> str:
    moment = now or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def webhook_envelope(
    event: str,
    instance: str,
    data: Mapping[str, Any],
    *,
    origin: WebhookOrigin = WebhookOrigin(),
    now: datetime | None = None,
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "event": event,
        "instance": instance,
        "data": dict(data),
        "destination": origin.destination,
        "date_time": _date_time(now),
    }
    # Evolution drops `sender` (undefined) until the instance has logged in once.
    if origin.sender is not None:
        envelope["sender"] = origin.sender
    envelope["server_url"] = origin.server_url
    envelope["apikey"] = origin.apikey
    return envelope


def lid_for(number: str) -> str:
    """The privacy ``@lid`` JID the fake gives ``number``: stable, and unrelated to its digits."""
    return str(int(hashlib.sha256(number.encode()).hexdigest(), 16) % 10**14).rjust(14, "1") + "@lid"


def _key(from_number: str, message_id: str, addressing: Addressing, from_me: bool) -> dict[str, Any]:
    phone_jid = f"{from_number}@s.whatsapp.net"
    if addressing == "pn":
        return {"remoteJid": phone_jid, "fromMe": from_me, "id": message_id}
    if addressing == "lid_only":
        return {"remoteJid": lid_for(from_number), "fromMe": from_me, "id": message_id}
    return {
        "remoteJid": lid_for(from_number),
        "remoteJidAlt": phone_jid,
        "fromMe": from_me,
        "id": message_id,
        "participant": "",
        "addressingMode": "lid",
    }


def _message_data(
    key: dict[str, Any],
    push_name: str,
    message: dict[str, Any],
    message_type: str,
    *,
    context_info: dict[str, Any] | None = None,
    timestamp: int | None = None,
    instance_id: str = DEFAULT_INSTANCE_ID,
) -> dict[str, Any]:
    data: dict[str, Any] = {"key": key, "pushName": push_name, "status": "DELIVERY_ACK", "message": message}
    if context_info is not None:
        data["contextInfo"] = context_info
    data.update(
        messageType=message_type,
        messageTimestamp=int(time.time()) if timestamp is None else timestamp,
        instanceId=instance_id,
        source=message_source(key["id"]),
    )
    return data


def text_message_webhook(
    *,
    instance: str,
    from_number: str,
    text: str,
    message_id: str | None = None,
    push_name: str = "Maria Souza",
    addressing: Addressing = "pn",
    legacy_text: bool = False,
    from_me: bool = False,
    timestamp: int | None = None,
    instance_id: str = DEFAULT_INSTANCE_ID,
    origin: WebhookOrigin = WebhookOrigin(),
) -> dict[str, Any]:
    """Sample 1. `legacy_text` gives the pre-2.2 `extendedTextMessage.text` shape (§5 normalisation);
    `message_id=""` the empty `key.id` some 2.2.3+ upserts carry (evolution-api#2466)."""
    message_id = new_message_id() if message_id is None else message_id
    message: dict[str, Any]
    if legacy_text:
        message, message_type = {"extendedTextMessage": {"text": text}}, "extendedTextMessage"
    else:
        message, message_type = {"conversation": text}, "conversation"
    data = _message_data(
        _key(from_number, message_id, addressing, from_me),
        "Você" if from_me else push_name,
        message,
        message_type,
        timestamp=timestamp,
        instance_id=instance_id,
    )
    return webhook_envelope("messages.upsert", instance, data, origin=origin)


def image_message_webhook(
    *,
    instance: str,
    from_number: str,
    caption: str,
    message_id: str | None = None,
    push_name: str = "João Pereira",
    mimetype: str = "image/jpeg",
    base64_data: str | None = None,
    addressing: Addressing = "pn",
    timestamp: int | None = None,
    instance_id: str = DEFAULT_INSTANCE_ID,
    origin: WebhookOrigin = WebhookOrigin(),
) -> dict[str, Any]:
    """Sample 2; `base64_data` is what Evolution adds as `message.base64` when `base64: true`."""
    message_id = message_id or new_message_id("ios")
    enc_path = f"/o1/v/t62.7118-24/f1/m230/{secrets.token_hex(8)}.enc"
    ts = int(time.time()) if timestamp is None else timestamp
    message: dict[str, Any] = {
        "imageMessage": {
            "url": f"https://mmg.whatsapp.net{enc_path}",
            "mimetype": mimetype,
            "caption": caption,
            "fileLength": "184512",
            "height": 1280,
            "width": 960,
            "directPath": enc_path,
            # Binary fields are opaque and change form between releases (§5): keep them opaque here too.
            "mediaKey": secrets.token_hex(16),
            "fileSha256": secrets.token_hex(16),
            "jpegThumbnail": secrets.token_hex(16),
            "mediaKeyTimestamp": str(ts),
        }
    }
    if base64_data is not None:
        message["base64"] = base64_data
    data = _message_data(
        _key(from_number, message_id, addressing, False),
        push_name,
        message,
        "imageMessage",
        timestamp=ts,
        instance_id=instance_id,
    )
    return webhook_envelope("messages.upsert", instance, data, origin=origin)


def ad_referral_webhook(
    *,
    instance: str,
    from_number: str,
    text: str,
    ctwa_clid: str | None,
    message_id: str | None = None,
    push_name: str = "Maria Souza",
    source_id: str = "120212345678901234",
    source_app: Literal["facebook", "instagram"] = "instagram",
    title: str = "Fale com a gente",
    body: str = "Plano anual com 20% de desconto",
    addressing: Addressing = "lid",
    timestamp: int | None = None,
    instance_id: str = DEFAULT_INSTANCE_ID,
    origin: WebhookOrigin = WebhookOrigin(),
) -> dict[str, Any]:
    """Sample 3: first message after a Click-to-WhatsApp ad. `ctwa_clid=None` leaves `ctwaClid` out,
    which real Baileys sessions sometimes do (reference §5, unconfirmed presence)."""
    message_id = message_id or new_message_id()
    ad_reply: dict[str, Any] = {
        "title": title,
        "body": body,
        "mediaType": 1,
        "thumbnailUrl": "https://scontent.xx.fbcdn.net/v/PLACEHOLDER.jpg",
        "sourceType": "ad",
        "sourceId": source_id,
        "sourceUrl": f"https://www.{source_app}.com/p/PLACEHOLDER/",
        "sourceApp": source_app,
    }
    if ctwa_clid is not None:
        ad_reply["ctwaClid"] = ctwa_clid
    ad_reply.update(
        showAdAttribution=True,
        containsAutoReply=False,
        greetingMessageBody="Oi! Como podemos ajudar?",
        automatedGreetingMessageShown=True,
    )
    context_info: dict[str, Any] = {
        "conversionSource": "FB_Ads",
        "entryPointConversionSource": "ctwa_ad",
        "entryPointConversionApp": source_app,
        "ctwaSignals": "all,all",
        "externalAdReply": ad_reply,
    }
    data = _message_data(
        _key(from_number, message_id, addressing, False),
        push_name,
        {"conversation": text},
        "conversation",
        context_info=dict(context_info),
        timestamp=timestamp,
        instance_id=instance_id,
    )
    return webhook_envelope("messages.upsert", instance, data, origin=origin)


def connection_update_webhook(
    *,
    instance: str,
    state: Literal["open", "connecting", "close", "refused"] = "open",
    status_reason: int = 200,
    wuid: str = "5511912345678@s.whatsapp.net",
    profile_name: str = "Loja Exemplo",
    origin: WebhookOrigin = WebhookOrigin(),
) -> dict[str, Any]:
    """Sample 4; only `open` carries `wuid`/`profileName`/`profilePictureUrl` (§6)."""
    data: dict[str, Any] = {"instance": instance}
    if state == "open":
        data.update(
            wuid=wuid,
            profileName=profile_name,
            profilePictureUrl="https://pps.whatsapp.net/v/t61.24694-24/PLACEHOLDER.jpg",
        )
    data.update(state=state, statusReason=status_reason)
    return webhook_envelope("connection.update", instance, data, origin=origin)


@dataclass(frozen=True)
class EvolutionRetryPolicy:
    """`WEBHOOK_RETRY_*` settings with their defaults (reference §4 "Retries")."""

    max_attempts: int = 10
    initial_delay: float = 5.0
    max_delay: float = 300.0
    jitter: float = 0.2
    exponential: bool = True
    non_retryable: frozenset[int] = frozenset({400, 401, 403, 404, 422})
    timeout: float = 30.0

    def base_delays(self) -> list[float]:
        """Waits before attempts 2..max_attempts, without jitter."""
        return [
            min(self.initial_delay * 2 ** (n - 1) if self.exponential else self.initial_delay, self.max_delay)
            for n in range(1, self.max_attempts)
        ]

    def delays(self, rng: random.Random | None = None) -> list[float]:
        pick = rng or random.Random()
        return [
            max(self.initial_delay, d * (1 + pick.uniform(-self.jitter, self.jitter)))
            for d in self.base_delays()
        ]


async def deliver_webhook(
    url: str,
    envelope: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    by_events: bool = False,
    policy: EvolutionRetryPolicy = EvolutionRetryPolicy(),
    retry_delay_scale: float = 1.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Delivery:
    """POST an envelope as Evolution does: instance `headers` (a `jwt_key` entry becomes a Bearer JWT),
    optional `byEvents` suffix, retried per `policy` with every wait multiplied by `retry_delay_scale`."""
    event = str(envelope["event"])
    sent_headers = {"Content-Type": "application/json"}
    for name, value in (headers or {}).items():
        if name == "jwt_key":
            sent_headers["Authorization"] = f"Bearer {make_webhook_jwt(value)}"
        else:
            sent_headers[name] = value
    target = f"{url.rstrip('/')}/{event_url_suffix(event)}" if by_events else url
    # JSON.stringify output: compact, non-ASCII left as is.
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    delivery = Delivery(url=target, event=event, body=body, headers=sent_headers)
    return await deliver_with_retries(
        delivery,
        delays=[d * retry_delay_scale for d in policy.delays()],
        non_retryable=policy.non_retryable,
        transport=transport,
        request_timeout=policy.timeout,
    )
