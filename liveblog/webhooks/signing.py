"""Standard Webhooks signatures: `whsec_` secrets and the `v1,` HMAC-SHA256 scheme.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the key is the secret's
base64 part decoded. Receivers verify it with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from ..errors import InvalidWebhook

PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64


def new_secret() -> str:
    """A fresh secret: `whsec_` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret; a malformed one is refused (never echoed)."""
    if not secret.startswith(PREFIX):
        raise InvalidWebhook("a webhook secret starts with whsec_ (e.g. from `webhook add`)")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhook("the webhook secret after whsec_ is not valid base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise InvalidWebhook(
            f"the webhook secret must hold {MIN_KEY_BYTES}–{MAX_KEY_BYTES} random bytes "
            f"(it holds {len(key)})"
        )
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers (the id is the same on every retry)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, message_id, timestamp, body),
    }
