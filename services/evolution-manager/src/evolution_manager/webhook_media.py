"""Pure: a WhatsApp media message's content in an Evolution webhook → the catalog's ``Media`` (kind, URL, MIME
type, SHA-256), and validation errors located in the webhook's ``data`` (shared/reference/evolution-api.md §5)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, TypeVar

from eventbus import Media
from eventbus.payloads import MediaKind
from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails

T = TypeVar("T")
Loc = tuple[str | int, ...]
MEDIA_KINDS: dict[str, MediaKind] = {
    "imageMessage": "image",
    "audioMessage": "audio",
    "videoMessage": "video",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}


def checked(adapter: TypeAdapter[T], value: Any, at: Loc) -> T:
    """``adapter``'s validation, its errors located at ``at`` in ``data`` (422 naming the field)."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        errors: list[InitErrorDetails] = []
        for e in exc.errors(include_url=False):
            error = InitErrorDetails(type=e["type"], loc=(*at, *e["loc"]), input=e["input"])
            if "ctx" in e:
                error["ctx"] = e["ctx"]
            errors.append(error)
        raise ValidationError.from_exception_data(exc.title, errors) from None


# A buffer copied as an object (2.3.6): indices as keys, bytes as values.
_BUFFER = TypeAdapter(
    dict[Annotated[str, Field(pattern=r"^[0-9]{1,6}$")], Annotated[int, Field(ge=0, le=255)]]
)


def sha256_of(value: Any, at: Loc = ("fileSha256",)) -> str | None:
    """``fileSha256`` is opaque and changes form by release (§5): 2.3.6 sends ``{"0": 12, …}``, older ones
    base64. Hex when it decodes to 32 bytes, otherwise the value as given. An object of numbers is such a
    buffer and must be a valid one (``ValidationError`` naming the field otherwise)."""
    raw: bytes | None = None
    if isinstance(value, dict) and value and all(isinstance(v, int) for v in value.values()):
        buffer = checked(_BUFFER, value, at)
        raw = bytes(buffer[k] for k in sorted(buffer, key=int))
    elif isinstance(value, str) and value:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
        if len(raw) != 32:
            return value
    return raw.hex() if raw is not None and len(raw) == 32 else None


def media_of(message: dict[str, Any], kind: str | None, content: dict[str, Any], at: Loc) -> Media | None:
    if kind not in MEDIA_KINDS:
        return None
    # S3-enabled servers add a downloadable `mediaUrl`; `url` is WhatsApp's encrypted blob (§5).
    url = message.get("mediaUrl") if isinstance(message.get("mediaUrl"), str) else content.get("url")
    mime = content.get("mimetype")
    return Media.of_kind(
        MEDIA_KINDS[kind],
        url=url if isinstance(url, str) else None,
        mime_type=mime if isinstance(mime, str) else None,
        sha256=sha256_of(content.get("fileSha256"), (*at, "fileSha256")),
    )
