"""Signed checkpoints and the signing key: statements, signatures, keys from settings."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_service.log.checkpoints import (
    BadCheckpoint,
    SegmentAnchor,
    SignedCheckpoint,
    head_checkpoint,
    open_checkpoint,
    writer_anchors,
)
from audit_service.log.signing import Signer, SigningKeyError, load_signer, parse_public_key

ANCHOR = SegmentAnchor("audit/2024/06/01/test/w-000000000001.jsonl", 1, 3, "ab" * 32)


def signed(signer: Signer, seq: int = 3, anchors=(ANCHOR,)) -> SignedCheckpoint:
    return head_checkpoint(signer, "test", "w", (seq, "cd" * 32), anchors, 1_717_243_200.0)


def test_a_checkpoint_opens_with_its_signers_key_only() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    stored = SignedCheckpoint.from_json(signed(signer).to_json())
    checkpoint = open_checkpoint(stored, signer.public_key)
    assert (checkpoint.writer_id, checkpoint.seq, checkpoint.key_id) == ("w", 3, signer.key_id)
    assert checkpoint.anchor(ANCHOR.key) == ANCHOR and ANCHOR.last_seq == 3
    with pytest.raises(BadCheckpoint, match="signature"):
        open_checkpoint(stored, Ed25519PrivateKey.generate().public_key())
    forged = dataclasses.replace(stored, statement=stored.statement.replace('"seq":3', '"seq":4'))
    with pytest.raises(BadCheckpoint, match="signature"):
        open_checkpoint(forged, signer.public_key)
    with pytest.raises(BadCheckpoint):
        SignedCheckpoint.from_json(b"{}")


def test_anchors_keep_every_claim_and_the_latest_head() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    grown = dataclasses.replace(ANCHOR, records=5, root="ef" * 32)
    anchors = writer_anchors(
        open_checkpoint(s, signer.public_key)
        for s in (signed(signer, 5, (grown,)), signed(signer, 3))
    )["w"]
    assert anchors.claims[ANCHOR.key] == {ANCHOR, grown}
    assert anchors.latest(ANCHOR.key) == grown
    assert anchors.head is not None and anchors.head.seq == 5


def test_the_key_comes_from_the_setting_the_file_or_a_development_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    expected = Signer(key).key_id
    dev = tmp_path / "keys" / "dev.pem"
    assert load_signer(base64.b64encode(raw).decode(), None, dev).key_id == expected
    (tmp_path / "key.pem").write_text(pem)
    assert load_signer(None, tmp_path / "key.pem", dev).key_id == expected
    assert not dev.exists()
    made = load_signer(None, None, dev)
    assert dev.stat().st_mode & 0o777 == 0o600
    assert load_signer(None, None, dev).key_id == made.key_id
    assert parse_public_key(made.public_key_pem, "pem").public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ) == made.public_key.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("not base64!", "neither a PEM nor base64"), (base64.b64encode(b"short").decode(), "5 bytes"),
     ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a readable")],
)
def test_bad_keys_say_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(SigningKeyError, match=problem):
        load_signer(text, None, tmp_path / "dev.pem")
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_signer(None, tmp_path / "missing.pem", tmp_path / "dev.pem")
