"""The Ed25519 key that signs checkpoints: loading it, its public half, and checking a signature."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

log = logging.getLogger(__name__)

_RAW_KEY_BYTES = 32


class SigningKeyError(ValueError):
    """A key that cannot be read; the message says which and why."""


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """sha256 of the raw public key, hex: names the key in every checkpoint it signs."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _raw_from_base64(text: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise SigningKeyError(f"{source}: neither a PEM nor base64") from None
    if len(raw) != _RAW_KEY_BYTES:
        raise SigningKeyError(
            f"{source}: {len(raw)} bytes; an Ed25519 key has {_RAW_KEY_BYTES}"
        )
    return raw


def _not_ed25519(key: object, source: str) -> SigningKeyError:
    return SigningKeyError(f"{source}: the PEM holds a {type(key).__name__}, not Ed25519")


def parse_private_key(text: str, source: str) -> Ed25519PrivateKey:
    """A PKCS#8 PEM, or the base64 of the 32-byte raw private key."""
    text = text.strip()
    if not text.startswith("-----BEGIN"):
        return Ed25519PrivateKey.from_private_bytes(_raw_from_base64(text, source))
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{source}: not a readable private key PEM ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _not_ed25519(key, source)
    return key


def parse_public_key(text: str, source: str) -> Ed25519PublicKey:
    """A SubjectPublicKeyInfo PEM, or the base64 of the 32-byte raw public key."""
    text = text.strip()
    if not text.startswith("-----BEGIN"):
        return Ed25519PublicKey.from_public_bytes(_raw_from_base64(text, source))
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{source}: not a readable public key PEM ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise _not_ed25519(key, source)
    return key


def load_or_create_dev_key(path: Path) -> Ed25519PrivateKey:
    """The development key at `path`, made (mode 0600) when absent. Never for production:
    whoever can read the state folder can sign."""
    if path.exists():
        return parse_private_key(path.read_text(), str(path))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    log.warning("generated a development checkpoint signing key", extra={"path": str(path)})
    return key


class Signer:
    """Signs checkpoint statements; exposes the public half for verify and proofs."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)
        self.public_key_pem = public_key_pem(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def signature_valid(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def load_signer(key: str | None, key_file: Path | None, dev_key_path: Path) -> Signer:
    """The signer of `key` (PEM / base64), else of `key_file`, else the development key."""
    if key:
        return Signer(parse_private_key(key, "the signing key setting"))
    if key_file is not None:
        try:
            text = key_file.read_text()
        except OSError as exc:
            raise SigningKeyError(f"{key_file}: cannot read the signing key: {exc}") from None
        return Signer(parse_private_key(text, str(key_file)))
    return Signer(load_or_create_dev_key(dev_key_path))
