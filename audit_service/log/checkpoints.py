"""Signed checkpoints: a writer's chain head and the Merkle roots of its segments, signed."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit_service.log.chain import canonical_json
from audit_service.log.signing import Signer, signature_valid

STATEMENT_KIND = "aegis.audit.checkpoint.v1"
_HEX_HASH = re.compile(r"^[0-9a-f]{64}$")


class BadCheckpoint(ValueError):
    """A checkpoint that is malformed or not signed by the expected key."""


@dataclass(frozen=True, slots=True)
class SegmentAnchor:
    """What a checkpoint states about one segment: its first `records` records have `root`."""

    key: str
    first_seq: int
    records: int
    root: str

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.records - 1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The statement a writer signs after each durable commit: its head (`seq`, `head_hash`)
    and the segments the commit wrote to. `recovered` marks records anchored at start-up
    (written before a crash, never signed at the time)."""

    environment: str
    writer_id: str
    seq: int
    head_hash: str
    segments: tuple[SegmentAnchor, ...]
    signed_at: float
    key_id: str
    recovered: bool = False

    def statement(self) -> str:
        """The exact text that is signed: canonical JSON."""
        return canonical_json(
            {
                "kind": STATEMENT_KIND,
                "environment": self.environment,
                "writer_id": self.writer_id,
                "seq": self.seq,
                "head_hash": self.head_hash,
                "segments": [
                    {"key": s.key, "first_seq": s.first_seq, "records": s.records, "root": s.root}
                    for s in self.segments
                ],
                "signed_at": self.signed_at,
                "key_id": self.key_id,
                "recovered": self.recovered,
            }
        ).decode("ascii")

    def anchor(self, key: str) -> SegmentAnchor | None:
        return next((s for s in self.segments if s.key == key), None)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A statement and its Ed25519 signature (base64), as stored apart from the log."""

    statement: str
    signature: str

    def to_json(self) -> bytes:
        return canonical_json({"statement": self.statement, "signature": self.signature})

    @classmethod
    def from_json(cls, data: bytes) -> SignedCheckpoint:
        try:
            body = json.loads(data)
            statement, signature = body["statement"], body["signature"]
        except (ValueError, TypeError, KeyError) as exc:
            raise BadCheckpoint(f"not a signed checkpoint: {exc}") from None
        if not isinstance(statement, str) or not isinstance(signature, str):
            raise BadCheckpoint("statement and signature must be strings")
        return cls(statement=statement, signature=signature)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
    statement = checkpoint.statement()
    signature = signer.sign(statement.encode("ascii"))
    return SignedCheckpoint(statement, base64.b64encode(signature).decode("ascii"))


def head_checkpoint(
    signer: Signer, environment: str, writer_id: str, head: tuple[int, str],
    anchors: Iterable[SegmentAnchor], now: float, *, recovered: bool = False,
) -> SignedCheckpoint:
    """The signed checkpoint of a writer whose chain head is `head` (seq, hash) after writing
    to the segments of `anchors`."""
    seq, head_hash = head
    return sign_checkpoint(
        Checkpoint(
            environment=environment, writer_id=writer_id, seq=seq, head_hash=head_hash,
            segments=tuple(anchors), signed_at=now, key_id=signer.key_id, recovered=recovered,
        ),
        signer,
    )


def open_checkpoint(signed: SignedCheckpoint, public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint a signed statement states, once its signature is checked."""
    try:
        signature = base64.b64decode(signed.signature, validate=True)
    except binascii.Error:
        raise BadCheckpoint("the signature is not base64") from None
    if not signature_valid(public_key, signed.statement.encode("utf-8"), signature):
        raise BadCheckpoint("the signature does not match the statement and key")
    return _parse_statement(signed.statement)


def _parse_statement(statement: str) -> Checkpoint:
    try:
        body: dict[str, Any] = json.loads(statement)
        if body.get("kind") != STATEMENT_KIND:
            raise ValueError(f"kind {body.get('kind')!r}")
        segments = tuple(
            SegmentAnchor(
                key=str(s["key"]), first_seq=int(s["first_seq"]), records=int(s["records"]),
                root=str(s["root"]),
            )
            for s in body["segments"]
        )
        checkpoint = Checkpoint(
            environment=str(body["environment"]),
            writer_id=str(body["writer_id"]),
            seq=int(body["seq"]),
            head_hash=str(body["head_hash"]),
            segments=segments,
            signed_at=float(body["signed_at"]),
            key_id=str(body["key_id"]),
            recovered=bool(body.get("recovered", False)),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise BadCheckpoint(f"not a checkpoint statement: {exc}") from None
    hashes = [checkpoint.head_hash, *(s.root for s in segments)]
    if not all(_HEX_HASH.match(h) for h in hashes):
        raise BadCheckpoint("a hash in the statement is not a sha256 hex digest")
    return checkpoint


@dataclass(slots=True)
class WriterAnchors:
    """What one writer's valid checkpoints state: every claim about each segment (a prefix
    of it and that prefix's root; all must hold) and the latest head."""

    claims: dict[str, set[SegmentAnchor]] = field(default_factory=dict)
    head: Checkpoint | None = None

    def add(self, checkpoint: Checkpoint) -> None:
        for anchor in checkpoint.segments:
            self.claims.setdefault(anchor.key, set()).add(anchor)
        if self.head is None or checkpoint.seq > self.head.seq:
            self.head = checkpoint

    def latest(self, key: str) -> SegmentAnchor | None:
        """The claim covering the most records of segment `key`."""
        claims = self.claims.get(key)
        return max(claims, key=lambda a: a.records) if claims else None


def writer_anchors(checkpoints: Iterable[Checkpoint]) -> dict[str, WriterAnchors]:
    """writer id -> its anchors, from checkpoints already opened (signatures checked)."""
    anchors: dict[str, WriterAnchors] = {}
    for checkpoint in checkpoints:
        anchors.setdefault(checkpoint.writer_id, WriterAnchors()).add(checkpoint)
    return anchors
