"""Secrets at rest.

- Tokens partners present to us: only an HMAC-SHA256 digest (keyed with ``TOKEN_HMAC_KEY``) and the
  last 4 characters are stored; the plaintext is shown once.
- Secrets we present to partners (their tokens, OAuth client secrets, static header values): Fernet
  encryption with ``FIELD_ENCRYPTION_KEYS`` (the first encrypts, all decrypt).
"""

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

TOKEN_BYTES = 36  # 48 URL-safe characters


def token_generate() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    key = settings.TOKEN_HMAC_KEY.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def mask(secret: str | None) -> str:
    """``••••abcd`` for display; never more than the last 4 characters."""
    if not secret:
        return ""
    return "••••" + secret[-4:] if len(secret) > 8 else "••••"


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


@functools.lru_cache(maxsize=8)
def _fernet_for(keys: tuple, secret_key: str) -> MultiFernet:
    """Built once per key set: every partner loaded decrypts its secrets (a request loads one)."""
    if not keys:
        derived = hashlib.sha256(("field-encryption:" + secret_key).encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("Stored secret cannot be decrypted with the configured keys.") from exc


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; Python code sees the plaintext.

    Empty strings are stored as empty strings (no secret)."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
