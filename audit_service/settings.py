"""Settings of the audit service; environment prefix AEGIS_AUDIT_."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from aegis_domain.context_rules import ContextBounds
from aegis_runtime.settings import ServiceSettings
from audit_service.log.signing import Signer, load_signer

_DAY_S = 86_400


class AuditSettings(ServiceSettings):
    """The audit process: which backend, where it writes, and the bounds of GetContext."""

    model_config = SettingsConfigDict(env_prefix="AEGIS_AUDIT_", extra="ignore")

    port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    backend: Literal["embedded", "aws"] = Field(
        "embedded",
        description="Storage backend: embedded (JSONL segments laid out like the S3 keys + "
        "a SQLite index under data_dir) or aws (S3 segments + a DynamoDB index; credentials "
        "from the standard AWS chain).",
    )
    data_dir: Path = Field(
        Path(".aegis/audit-data"),
        description="Root folder of the embedded log, index and checkpoints; with no signing "
        "key set, the development key is kept (and made) in data_dir/keys.",
    )
    s3_bucket: str = Field(
        "", description="aws: the bucket of the log (segments under audit/, checkpoints under "
        "checkpoints/)."
    )
    dynamodb_table: str = Field("", description="aws: the index table.")
    aws_endpoint_url: str = Field(
        "", description="aws: an endpoint for S3 and DynamoDB other than AWS's (moto, "
        "LocalStack); empty for AWS itself."
    )
    aws_region: str = Field(
        "", description="aws: region; empty takes the standard chain (AWS_REGION, profile)."
    )
    aws_retry_s: float = Field(
        10.0, gt=0, description="aws: how long throttled / failed calls are retried when the "
        "caller set no deadline (a caller's deadline always bounds them)."
    )
    aws_probe_s: float = Field(
        1.0, gt=0, description="aws: after a failed commit (health NOT_SERVING), S3 and "
        "DynamoDB are probed this often until they answer (SERVING again)."
    )
    aws_claim_lease_s: float = Field(
        60.0, ge=30, description="aws: a writer claims a login's event id before writing its "
        "decision and gives up its PUT well within this; a claim older than this whose record "
        "is not in S3 (its writer crashed) may be taken by another decision."
    )
    hot_users: list[str] = Field(
        default_factory=list,
        description='aws: users whose index partition is write-sharded (e.g. a catch-all '
        'account), as JSON: ["guest"].',
    )
    hot_user_shards: int = Field(
        8, ge=2, le=64, description="aws: partitions a hot user's logins are spread over."
    )
    anchor_grace_s: float = Field(
        60.0, ge=0, description="verify: another writer's newest segment may lack its signed "
        "checkpoint this long (the checkpoint follows the segment)."
    )
    signing_key: SecretStr | None = Field(
        None, description="Ed25519 private key signing checkpoints: PKCS#8 PEM or base64 of "
        "the 32 raw bytes. Production sets this or signing_key_file."
    )
    signing_key_file: Path | None = Field(
        None, description="File holding the signing key (PEM or base64), read at start."
    )
    writer_id: str = Field(
        "local-1",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Names this process's hash chain and segments; unique per live writer.",
    )
    segment_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="A segment rotates before it would exceed this."
    )
    segment_max_records: int = Field(
        100_000, ge=1, description="A segment rotates once it holds this many records."
    )
    max_batch_records: int = Field(
        1_000, ge=1, description="At most this many records share one write + fsync."
    )
    checkpoint_sync_s: float = Field(
        1.0, ge=0, description="Embedded backend: each commit writes its signed checkpoint, "
        "fsynced at most this often (0: every commit); a crash before that fsync leaves the "
        "fsynced records to be sealed again at start."
    )
    history_limit: int = Field(
        50, ge=0, description="GetContext: at most this many past logins of the user."
    )
    history_max_age_s: float = Field(
        90 * _DAY_S, gt=0, description="GetContext: past logins older than this are left out."
    )
    neighbor_limit: int = Field(
        20, ge=0, description="GetContext: at most this many neighbours per link (device/IP/ASN)."
    )
    neighbor_window_s: float = Field(
        30 * _DAY_S, gt=0, description="GetContext: neighbours are users seen within this window."
    )
    velocity_window_s: int = Field(
        3600, gt=0, description="GetContext: velocity counts cover this window before the event."
    )
    scan_limit: int = Field(
        1_000,
        ge=1,
        description="GetContext: at most this many of the newest index rows are read per link "
        "and per velocity count, so a hot IP or ASN costs a bounded time (about 1 ms per 1,000 "
        "rows); counts saturate there.",
    )
    context_cache_rows: int = Field(
        1_000_000,
        ge=0,
        description="Embedded backend: index rows GetContext keeps in memory (a user's "
        "history row about 1.5 KiB, a link row about 300 bytes; least recently used keys go "
        "first); 0 reads every context from the index.",
    )
    context_cache_warm: bool = Field(
        True,
        description="Embedded backend: before SERVING, hold the device, IP and ASN rows of the "
        "newest index rows within the neighbour window (at most a third of context_cache_rows), "
        "so a busy shared key answers its first GetContext from memory, and the history of "
        "those rows' users, the most recently seen first (up to another third).",
    )
    served_context_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Bytes of the contexts GetContext served that it holds for the records "
        "naming them (context_ref) instead of carrying them back (a realistic context is "
        "about 18 KiB; each held until its record comes, the oldest forgotten first, when the "
        "router then sends the context itself); 0 gives no references.",
    )
    list_page_size: int = Field(100, ge=1, description="ListDecisions: default page size.")
    list_max_page_size: int = Field(1_000, ge=1, description="ListDecisions: largest page size.")
    review_queue_interval_s: float = Field(
        15.0, gt=0, description="How often the review-queue gauges (pending reviews, oldest "
        "pending age) are read from the index: one query each time."
    )

    def signer(self) -> Signer:
        """The checkpoint signer: signing_key, else signing_key_file, else a development key
        kept in data_dir/keys (made when absent)."""
        return load_signer(
            self.signing_key.get_secret_value() if self.signing_key else None,
            self.signing_key_file,
            self.data_dir / "keys" / "dev-signing-key.pem",
        )

    def context_bounds(self) -> ContextBounds:
        """The GetContext bounds as the backend-neutral context module takes them."""
        return ContextBounds(
            history_limit=self.history_limit,
            history_max_age_s=self.history_max_age_s,
            neighbor_limit=self.neighbor_limit,
            neighbor_window_s=self.neighbor_window_s,
            velocity_window_s=self.velocity_window_s,
            scan_limit=self.scan_limit,
        )
