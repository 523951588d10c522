"""Encryption at rest for free text, with key rotation, and keyed fingerprints.

Keys come from `TANDEM_DATA_KEYS`, newest first: new text is encrypted with the newest
key, and every listed key still decrypts, so a key can be rotated in without downtime.

A *fingerprint* (`DataCipher.fingerprint`) is an HMAC-SHA256 whose key is derived from a
data key with HKDF-SHA256 (fixed `info` label, one HMAC key per data key). It lets the
server recognise a value it has seen before (a check-in retried offline) without
storing anything a copy of the database could test a guess against: a plain digest
(SHA-256, MD5, ...) of low-entropy or human-written text would let anyone with the file
confirm "did they write X?" offline; an HMAC cannot be computed without the keys. New
fingerprints use the newest key and any configured key is accepted, so rotation works
like encryption's: add a key in front, then `tandem keys rotate` recomputes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

# Changing the label changes every fingerprint: only with a migration that recomputes them.
FINGERPRINT_INFO = b"tandem fingerprint hmac-sha256 v1"


def _fingerprint_key(data_key: str) -> bytes:
    """The HMAC key derived from one data key (a Fernet key: 32 bytes, base64url)."""
    material = base64.urlsafe_b64decode(data_key.encode())
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=FINGERPRINT_INFO)
    return hkdf.derive(material)


class DataCipher:
    """Encrypts and decrypts text, and fingerprints it, with the configured data keys."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        self._mac_keys = tuple(_fingerprint_key(k) for k in keys)

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("cannot decrypt: none of the configured data keys fits") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` with the newest key."""
        return self._fernet.rotate(token.encode()).decode()

    def fingerprint(self, text: str) -> str:
        """HMAC-SHA256 of `text` (hex, 64 characters) with the newest key."""
        return self._mac(self._mac_keys[0], text)

    def fingerprint_matches(self, text: str, stored: str) -> bool:
        """Whether `stored` is the fingerprint of `text` under any configured key."""
        return any(hmac.compare_digest(self._mac(key, text), stored) for key in self._mac_keys)

    @staticmethod
    def _mac(key: bytes, text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def init_app(app: Flask) -> None:
    app.extensions["tandem.cipher"] = DataCipher(app.config["TANDEM_SETTINGS"].data_keys)


def cipher() -> DataCipher:
    return current_app.extensions["tandem.cipher"]  # type: ignore[no-any-return]
