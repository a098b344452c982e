"""Secrets that must be recoverable (a bce-auth-v1 SK verifies HMACs), sealed at rest.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key kept in its own file
(`<data-dir>/secret.key`, created 0600 on first use). The database holds only sealed text,
so a copy of the database alone does not give the secret keys away.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from tuneyard import errors

__all__ = ["FernetSealer"]


class FernetSealer:
    """Seals and opens short secrets with a key file."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._fernet = Fernet(self._key())

    def _key(self) -> bytes:
        try:
            return self.key_path.read_bytes().strip()
        except FileNotFoundError:
            pass
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:  # O_EXCL: two processes starting at once agree on one key
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.key_path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key

    def seal(self, secret: str) -> str:
        """The secret, encrypted and authenticated, as text."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret back; a token sealed under another key is a StorageError."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise errors.StorageError(
                f"a sealed secret does not open with {self.key_path} (was the key replaced?)"
            ) from exc
