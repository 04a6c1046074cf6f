"""Inclusion proofs: one record, its audit path to its segment's signed Merkle root; built by
the service, checked offline with the public key alone."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aegis.v1 import audit_pb2
from audit_service.log.chain import ChainedLine, MalformedLine, decode_line
from audit_service.log.checkpoints import BadCheckpoint, SignedCheckpoint, open_checkpoint
from audit_service.log.merkle import audit_path, leaf_hash, root_from_path


class ProofError(ValueError):
    """A proof that does not prove what it claims; the message says which step fails."""


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Field for field the InclusionProof message of audit.proto."""

    decision_id: str
    segment: str
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    record_line: str
    checkpoint: SignedCheckpoint


def proof_to_message(proof: InclusionProof) -> audit_pb2.InclusionProof:
    return audit_pb2.InclusionProof(
        decision_id=proof.decision_id,
        segment=proof.segment,
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        audit_path=proof.audit_path,
        record_line=proof.record_line,
        checkpoint=audit_pb2.SignedCheckpoint(
            statement=proof.checkpoint.statement, signature=proof.checkpoint.signature
        ),
    )


def proof_from_message(message: audit_pb2.InclusionProof) -> InclusionProof:
    return InclusionProof(
        decision_id=message.decision_id,
        segment=message.segment,
        leaf_index=message.leaf_index,
        tree_size=message.tree_size,
        audit_path=list(message.audit_path),
        record_line=message.record_line,
        checkpoint=SignedCheckpoint(
            statement=message.checkpoint.statement, signature=message.checkpoint.signature
        ),
    )


def segment_lines(data: bytes) -> list[bytes]:
    """The complete lines of a segment, without their newlines."""
    lines = data.split(b"\n")
    lines.pop()  # the empty tail after the last newline, or a torn line
    return lines


def build_proof(
    decision_id: str, segment: str, data: bytes, seq: int, signed: SignedCheckpoint,
    tree_size: int,
) -> InclusionProof:
    """The proof that record `seq` of `segment` (its bytes `data`) is among the first
    `tree_size` records that `signed` anchors."""
    lines = segment_lines(data)[:tree_size]
    decoded = [decode_line(line) for line in lines]
    index = next(i for i, line in enumerate(decoded) if line.seq == seq)
    leaves = [leaf_hash(line.hash) for line in decoded]
    return InclusionProof(
        decision_id=decision_id,
        segment=segment,
        leaf_index=index,
        tree_size=len(leaves),
        audit_path=[node.hex() for node in audit_path(leaves, index)],
        record_line=lines[index].decode("utf-8"),
        checkpoint=signed,
    )


def check_proof(proof: InclusionProof, public_key: Ed25519PublicKey) -> ChainedLine:
    """The proven record, or ProofError: the record matches its hash, its leaf leads to the
    root that a checkpoint signed by `public_key` states for its segment."""
    try:
        line = decode_line(proof.record_line.encode("utf-8"))
    except MalformedLine as exc:
        raise ProofError(f"record_line: {exc}") from None
    if line.recomputed_hash() != line.hash:
        raise ProofError("record_line: the record does not match its hash")
    if line.decision_id != proof.decision_id:
        raise ProofError(f"record_line: holds decision {line.decision_id!r}, "
                         f"not {proof.decision_id!r}")
    try:
        checkpoint = open_checkpoint(proof.checkpoint, public_key)
    except BadCheckpoint as exc:
        raise ProofError(f"checkpoint: {exc}") from None
    anchor = checkpoint.anchor(proof.segment)
    if anchor is None:
        raise ProofError(f"checkpoint: does not anchor segment {proof.segment}")
    if anchor.records != proof.tree_size:
        raise ProofError(f"tree_size: {proof.tree_size}, the checkpoint states {anchor.records}")
    if line.seq != anchor.first_seq + proof.leaf_index:
        raise ProofError(f"leaf_index: {proof.leaf_index} is not seq {line.seq} of a segment "
                         f"starting at seq {anchor.first_seq}")
    try:
        path = [bytes.fromhex(node) for node in proof.audit_path]
    except ValueError:
        raise ProofError("audit_path: not hex") from None
    root = root_from_path(leaf_hash(line.hash), proof.leaf_index, proof.tree_size, path)
    if root is None or root.hex() != anchor.root:
        raise ProofError("audit_path: does not lead to the signed root of the segment")
    return line
