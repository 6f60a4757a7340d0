"""API key material at the edge: new keys, and HMAC secrets sealed at rest.

An HMAC secret must be readable to verify a signature, so it is journaled sealed with
AES-256-GCM under a master key that never enters the journal: ``master.key`` in the
data directory (created on first use, mode 0600), or ``RIALTO_MASTER_KEY`` (64 hex
digits) for deployments whose gateways share it. The API key id is the associated data,
so a sealed secret cannot be moved to another key.
"""

from __future__ import annotations

import base64
import os
import secrets
import string
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_ALPHABET = string.ascii_letters + string.digits
MASTER_FILE = "master.key"


def new_token(length: int = 64) -> str:
    """A random key id or secret: ``length`` letters and digits, as Binance's are."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key is 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def existing(cls, data_dir: Path) -> SecretBox:
        """The master key a gateway shares with its core; never a new one."""
        if not os.environ.get("RIALTO_MASTER_KEY") and not (data_dir / MASTER_FILE).exists():
            raise FileNotFoundError(
                f"no {data_dir / MASTER_FILE} and no RIALTO_MASTER_KEY: a gateway needs the "
                "core's master key to check API key signatures"
            )
        return cls.for_data_dir(data_dir)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        env = os.environ.get("RIALTO_MASTER_KEY")
        if env:
            return cls(bytes.fromhex(env))
        path = data_dir / MASTER_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
                f.flush()
                os.fsync(f.fileno())
        return cls(path.read_bytes())

    def seal(self, secret: str, api_key: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, secret.encode(), api_key.encode())
        return base64.b64encode(sealed).decode()

    def unseal(self, sealed: str, api_key: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], api_key.encode()).decode()
        except InvalidTag as exc:
            raise ValueError(f"the secret of key {api_key[:8]}... does not open") from exc


def ed25519_public_key(text: str) -> str:
    """An Ed25519 public key given as PEM, or as base64 of its 32 bytes, as base64 of them."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raw = base64.b64decode(text, validate=True)
            Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError(f"not an Ed25519 public key: {exc}") from exc
    return base64.b64encode(raw).decode()
