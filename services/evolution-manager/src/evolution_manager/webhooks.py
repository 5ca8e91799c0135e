"""Pure: Evolution API v2 webhook bodies → catalog payloads (shared/reference/evolution-api.md §4-6).

Nothing here does I/O, so every rule (which JID is the person, where the text lives in each version, what a
click-to-WhatsApp ad looks like) is tested directly against the reference's sample bodies.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from eventbus import AdReferral, MessageReceived
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from evolution_manager.errors import MalformedWebhook
from evolution_manager.webhook_head import HEAD_BYTES as HEAD_BYTES
from evolution_manager.webhook_head import Head as Head
from evolution_manager.webhook_head import head as head
from evolution_manager.webhook_media import MEDIA_KINDS, Loc, checked, media_of

T = TypeVar("T")
MESSAGES_UPSERT = "messages.upsert"
CONNECTION_UPDATE = "connection.update"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# WhatsApp housekeeping that arrives as messages.upsert but is not something a person said.
_HOUSEKEEPING = frozenset({"protocolMessage", "senderKeyDistributionMessage"})


class _Camel(BaseModel):
    # Unknown extra fields are accepted: Evolution adds fields between releases (reference §5, §11).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class EvolutionWebhook(_Camel):
    """The delivery envelope (§4). Only what routing needs is typed; ``data`` is read per event."""

    event: str = Field(min_length=1, max_length=64)
    instance: str = Field(min_length=1, max_length=128)
    data: dict[str, Any] | list[Any] = Field(default_factory=dict)


class MessageKey(_Camel):
    remote_jid: str = Field(min_length=1)
    from_me: bool = False
    #: Absent or empty on some 2.2.3+ upserts (evolution-api#2466): the message is still received, deduplicated
    #: by the catalog's fallback key (:func:`message_key`).
    id: str | None = Field(default=None, max_length=128)
    participant: str | None = None
    remote_jid_alt: str | None = None
    participant_alt: str | None = None
    sender_pn: str | None = None
    previous_remote_jid: str | None = None


class MessageUpsert(_Camel):
    """``messages.upsert`` data (§5). Timestamps and binary fields change form between releases: opaque."""

    key: MessageKey
    push_name: str | None = None
    message: dict[str, Any] | None = None
    message_type: str | None = None
    message_timestamp: Any = None
    context_info: dict[str, Any] | None = None


class ConnectionUpdate(_Camel):
    """``connection.update`` data (§6)."""

    state: str = Field(min_length=1)
    status_reason: int | None = None
    profile_name: str | None = None


@dataclass(frozen=True)
class Skip:
    """A webhook that is answered 200 and counted, but publishes nothing; ``reason`` is the metric label."""

    reason: Literal["from_me", "echo", "group", "broadcast", "newsletter", "no_phone_number", "housekeeping"]


@dataclass(frozen=True)
class SkipRules:
    #: Messages a person types on the business's phone are published (``from_me``) unless this is set.
    from_me: bool = False
    groups: bool = True
    broadcast: bool = True


def parse(body: bytes) -> EvolutionWebhook:
    """Raises :class:`MalformedWebhook` (400) for bytes that are not a JSON object and pydantic's
    ``ValidationError`` (422, naming the field) for a JSON object of the wrong shape."""
    try:
        return EvolutionWebhook.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise MalformedWebhook(f"body is not valid JSON: {first['msg']}") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise MalformedWebhook("body must be a JSON object") from None
        raise


def url_suffix(event: str) -> str:
    """``messages.upsert`` → ``messages-upsert``: the path Evolution appends with ``byEvents`` (§2)."""
    return event.replace(".", "_").replace("-", "_").upper().replace("_", "-").lower()


def phone_of(jid: str | None) -> str | None:
    """``5511987654321@s.whatsapp.net`` (or ``…:12@s.whatsapp.net``, a linked device) → ``+5511987654321``."""
    if not jid or not jid.endswith("@s.whatsapp.net"):
        return None
    phone = "+" + jid.split("@", 1)[0].split(":", 1)[0]
    return phone if _E164.match(phone) else None


def _person_phone(key: MessageKey) -> str | None:
    chat = key.remote_jid
    if chat.endswith("@g.us") or chat == "status@broadcast":
        # In groups and status posts the person is the participant (maybe a privacy @lid with a phone alt).
        candidates = [key.participant, key.participant_alt]
    else:
        # 2.3.5+: remoteJid may be a privacy @lid, the phone JID then in remoteJidAlt (2.3.0-2.3.2: senderPn,
        # previousRemoteJid) (§5 "JIDs and @lid"). A @lid without alternative carries no phone number.
        candidates = [chat, key.remote_jid_alt, key.sender_pn, key.previous_remote_jid]
    return next((p for p in map(phone_of, candidates) if p), None)


_LID = re.compile(r"^([0-9]{1,32})(?::[0-9]+)?@lid$")


def lid_of(key: MessageKey) -> str | None:
    """The digits of a 1:1 chat's privacy ``@lid`` (``123456789012345@lid`` → ``123456789012345``), else None.

    Used only when no phone number is given anywhere (§5 "JIDs and @lid"): such a sender is still a lead,
    ``wa:lid:<digits>``, and Evolution 2.3+ can answer it at that JID (§12)."""
    match = _LID.match(key.remote_jid)
    return match.group(1) if match else None


def _skip_reason(key: MessageKey, rules: SkipRules) -> Skip | None:
    chat = key.remote_jid
    if chat.endswith("@newsletter"):
        return Skip("newsletter")
    if key.from_me and (rules.from_me or chat.endswith(("@g.us", "@broadcast"))):
        # In a group or a status post, the business's own message names no contact to talk to.
        return Skip("from_me")
    if chat.endswith("@broadcast") and rules.broadcast:
        return Skip("broadcast")
    if chat.endswith("@g.us") and rules.groups:
        return Skip("group")
    return None


def _content(message: dict[str, Any], at: Loc = ("message",)) -> tuple[str | None, dict[str, Any], Loc]:
    """The message's kind, its content object and where that is in ``data`` (to name a field that is
    wrong), seeing through the wrappers WhatsApp nests media in."""
    for wrapper in ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "documentWithCaptionMessage"):
        inner = message.get(wrapper)
        if isinstance(inner, dict) and isinstance(inner.get("message"), dict):
            return _content(inner["message"], (*at, wrapper, "message"))
    for kind, content in message.items():
        if kind in MEDIA_KINDS or kind in ("extendedTextMessage", "conversation"):
            return kind, content if isinstance(content, dict) else {}, (*at, kind)
    kinds = [k for k, v in message.items() if isinstance(v, dict) and k != "messageContextInfo"]
    return (kinds[0] if kinds else None), {}, at


def _text(message: dict[str, Any], content: dict[str, Any]) -> str | None:
    # 2.2.0+ rewrites extendedTextMessage into conversation; older servers do not: conversation first (§5).
    for candidate in (
        message.get("conversation"),
        (message.get("extendedTextMessage") or {}).get("text"),
        content.get("caption"),
        content.get("text"),
        (message.get("buttonsResponseMessage") or {}).get("selectedDisplayText"),
        (message.get("templateButtonReplyMessage") or {}).get("selectedDisplayText"),
        (message.get("listResponseMessage") or {}).get("title"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


def _context_info(upsert: MessageUpsert, content: dict[str, Any]) -> dict[str, Any]:
    if upsert.context_info:
        return upsert.context_info
    inner = content.get("contextInfo")
    return inner if isinstance(inner, dict) else {}


def referral_of(context_info: dict[str, Any]) -> AdReferral | None:
    """The click-to-WhatsApp ad (``externalAdReply``, §5); ``ctwaClid`` is not always there (§11)."""
    ad = context_info.get("externalAdReply")
    if not isinstance(ad, dict) or not ad:
        return None

    def text(name: str) -> str | None:
        value = ad.get(name)
        return value if isinstance(value, str) and value else None

    return AdReferral(
        ctwa_clid=text("ctwaClid"),
        source_id=text("sourceId"),
        source_type=text("sourceType"),
        source_url=text("sourceUrl"),
        title=text("title"),
    )


def _audit_copy(data: dict[str, Any]) -> dict[str, Any]:
    """The original data for ``raw``, less ``message.base64``: a whole decrypted file has no place on the bus."""
    message = data.get("message")
    if isinstance(message, dict) and "base64" in message:
        data = {**data, "message": {k: v for k, v in message.items() if k != "base64"}}
    return data


def to_message(
    webhook: EvolutionWebhook, upsert: MessageUpsert, *, instance_id: str, rules: SkipRules
) -> MessageReceived | Skip:
    """``messages.upsert`` → ``message.received`` v1, or why it is not published."""
    skip = _skip_reason(upsert.key, rules)
    if skip is not None:
        return skip
    message = upsert.message or {}
    kind, content, at = _content(message)
    if kind is None or kind in _HOUSEKEEPING:  # an empty stub (undecryptable) or WhatsApp's own signalling
        return Skip("housekeeping")
    phone = _person_phone(upsert.key)
    lid = lid_of(upsert.key) if phone is None else None
    if phone is None and lid is None:
        return Skip("no_phone_number")  # a group's participant known by nothing we can answer
    data = webhook.data if isinstance(webhook.data, dict) else {}
    from_me = upsert.key.from_me
    # On a fromMe message pushName is the business's own name (or "Você"), not the contact's.
    name = None if from_me or not upsert.push_name else upsert.push_name.strip()[:256] or None
    return MessageReceived.model_validate(
        {
            "instance_id": instance_id,
            # The catalog's `from` is a phone number: a @lid sender has none, so `from` is absent and the lead
            # is its LID (docs/catalog.md, Additions).
            "lead_external_id": f"wa:{phone}" if phone else f"wa:lid:{lid}",
            "from": phone,
            "body": _text(message, content),
            "media": media_of(message, kind, content, at),
            "referral": referral_of(_context_info(upsert, content)),
            "from_me": from_me,
            "contact_name": name,
            "raw": {
                "message_id": upsert.key.id or None,
                "instance": webhook.instance,
                "message_type": upsert.message_type or kind,
                "timestamp": upsert.message_timestamp,
                "push_name": upsert.push_name,
                "data": _audit_copy(data),
            },
        }
    )


class _Long(BaseModel):
    """protobuf.js's Long as JSON (2.3.6, §5)."""

    low: int
    high: int | None = None
    unsigned: bool | None = None


_LONG = TypeAdapter(_Long)


def occurred_at(upsert: MessageUpsert) -> datetime | None:
    """When WhatsApp says the message was sent: unix seconds, a numeric string, or a Long ``{low, high}``
    (``ValidationError`` naming ``messageTimestamp.high`` when a Long's parts are not numbers)."""
    value = upsert.message_timestamp
    if isinstance(value, dict) and isinstance(value.get("low"), int):
        long = checked(_LONG, value, ("messageTimestamp",))
        value = ((long.high or 0) << 32) + (long.low & 0xFFFFFFFF)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**11:
        return datetime.fromtimestamp(value, UTC)
    return None


def message_key(instance_id: str, upsert: MessageUpsert, message: MessageReceived) -> str:
    """The producer's natural key. Catalog: ``instance_id + raw.message_id`` when available, else
    ``sha256(body + timestamp + from)`` as a fallback: a retried delivery of a message without an id carries
    the same text, WhatsApp timestamp and sender, so it publishes once. (Two identical texts from one sender
    with one timestamp second are one message to this key: the catalog's rule, and no other field tells them
    apart.) A message without text contributes its media's sha256 as its body."""
    if upsert.key.id:
        return f"{instance_id}:{upsert.key.id}"
    when = occurred_at(upsert)
    body = message.body if message.body is not None else (message.media.sha256 if message.media else None)
    # A @lid sender has no `from`: its lead_external_id (`wa:lid:<digits>`) stands for the sender.
    parts = (
        body or "",
        str(int(when.timestamp())) if when else "",
        message.from_ or message.lead_external_id,
    )
    return f"{instance_id}:sha256:{hashlib.sha256(''.join(parts).encode()).hexdigest()}"


Status = Literal["connected", "disconnected", "error"]
# Baileys DisconnectReason (reference §6, [BL]).
_REASONS = {
    401: "logged_out",
    403: "forbidden",
    408: "timed_out",
    411: "multidevice_mismatch",
    428: "connection_closed",
    440: "connection_replaced",
    500: "bad_session",
    503: "unavailable_service",
    515: "restart_required",
}


def to_status(state: str, status_reason: int | None = None) -> tuple[Status, dict[str, Any]] | None:
    """An Evolution connection state → the catalog's status and details; ``None`` for ``connecting``, a
    passing state (every reconnect shows it before ``open``) that is not a change worth announcing."""
    status: Status
    if state == "open":
        status = "connected"
    elif state == "close":
        status = "disconnected"
    elif state == "refused":  # the QR-code limit was reached: a person has to act
        status = "error"
    else:
        return None
    details: dict[str, Any] = {"state": state}
    if status_reason is not None:
        details["status_reason"] = status_reason
        if status_reason in _REASONS:
            details["reason"] = _REASONS[status_reason]
    return status, details
