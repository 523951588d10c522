"""Encryption at rest for free text, with key rotation.

Keys come from `TANDEM_DATA_KEYS`, newest first: new text is encrypted with the newest
key, and every listed key still decrypts, so a key can be rotated in without downtime.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app


class DataCipher:
    """Encrypts and decrypts text with the configured data keys."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

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


def init_app(app: Flask) -> None:
    app.extensions["tandem.cipher"] = DataCipher(app.config["TANDEM_SETTINGS"].data_keys)


def cipher() -> DataCipher:
    return current_app.extensions["tandem.cipher"]  # type: ignore[no-any-return]
