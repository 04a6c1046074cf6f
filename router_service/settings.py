"""Router settings (env prefix AEGIS_ROUTER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aegis_runtime.settings import ServiceSettings
from router_service.batching import BatchLimits

DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.yaml"


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AEGIS_ROUTER_", extra="ignore")

    port: int = Field(50051, ge=0, le=65535, description="gRPC port of the Score API.")
    audit_addr: str = Field("127.0.0.1:50052", description="host:port of the audit service.")
    agent_addr_template: str = Field(
        "127.0.0.1:{port}",
        description="Address of each registry agent; {name} and {port} come from the registry "
        "(on ECS: '{name}.aegis.local:{port}').",
    )
    agent_addrs: dict[str, str] = Field(
        default_factory=dict,
        description='Per-agent address overrides as JSON, e.g. {"geo": "10.0.0.7:50064"}.',
    )
    policy_path: Path = Field(DEFAULT_POLICY, description="The decision policy (YAML).")
    combiner_path: Path = Field(
        Path(".aegis/models/router/combiner.json"),
        description="The learned combiner (logistic regression over the agents' risks) that `aegis "
        "train` writes; when absent, the agents' risks are pooled in log-odds.",
    )
    budget_window: int = Field(
        20_000, ge=0, description="Recent live decisions of successful logins whose "
        "combined risks turn the policy's budget into risk thresholds (a ring buffer per "
        "router); 0: the calibration world's thresholds always.",
    )
    budget_min_decisions: int = Field(
        2_000, gt=0, description="Decisions the window must hold before its thresholds serve; "
        "until then (after every start) the calibration world's.",
    )
    budget_max_shift: float = Field(
        2.0, ge=1, description="A threshold from recent traffic stays between the calibration "
        "world's risks at budget share * this and budget share / this: an attack wave cannot "
        "raise the bar further, nor a quiet spell lower it.",
    )
    default_deadline_ms: int = Field(
        300, gt=0, description="Budget of a Score whose caller set no deadline."
    )
    context_timeout_ms: int = Field(
        40, gt=0, description="The most GetContext may take of the budget."
    )
    audit_reserve_ms: int = Field(
        60,
        gt=0,
        description="Kept back from the agents for the audit Record: a slow agent must not "
        "leave too little time to make the decision durable.",
    )
    audit_attempts: int = Field(
        3, ge=1, description="Record attempts on UNAVAILABLE, all within the deadline."
    )
    reply_margin_ms: int = Field(
        20, ge=0, description="Kept back from the audit Record and its retries at the end of "
        "the caller's deadline, so that a Score that cannot be audited answers UNAVAILABLE "
        "before the caller gives up (DEADLINE_EXCEEDED would not say why).",
    )
    startup_timeout_s: float = Field(
        30.0, gt=0, description="How long start-up waits for the audit service, and at most "
        "for the agents to connect (a down agent is not waited for).",
    )
    max_event_age_s: int = Field(
        86_400, gt=0, description="Score refuses events older than this (replay accepts any)."
    )
    max_clock_skew_s: int = Field(
        300, ge=0, description="Score and replay refuse events this far in the future."
    )
    replay_concurrency: int = Field(
        256, gt=0, description="Requests of one ScoreStream scored at once (the logins of one "
        "user among them wait for each other): bulk work is decided fastest in full batches."
    )
    replay_stream_max_s: float = Field(
        15.0, gt=0, description="A ScoreStream asks its client to close it after this long (the "
        "client half-closes and resumes on a new stream). Keep it below GRACE_PERIOD_S, so "
        "that a connection's max-age grace never cuts a stream mid-row.",
    )
    replay_event_deadline_ms: int = Field(
        20_000, gt=0, description="Budget of each request of a ScoreStream, from when the "
        "router takes it up. Bulk work waits for a busy mesh (the stream's in-flight window "
        "holds the client back) instead of deciding without it.",
    )
    replay_hop_deadline_ms: int = Field(
        10_000, gt=0, description="The most GetContext or one agent may take for a request "
        "of a ScoreStream, in place of the live limits (CONTEXT_TIMEOUT_MS, the registry's "
        "deadlines): an agent that is down (UNAVAILABLE) or this late still degrades only "
        "that decision.",
    )

    batch_max_size: int = Field(
        64, gt=0, description="The most Scores one batch call (to an agent, GetContext or the "
        "audit Record) carries.",
    )
    batch_max_in_flight: int = Field(
        2, gt=0, description="Batch calls in flight at once toward each service; Scores that "
        "arrive while all are out go together in the next one.",
    )
    batch_gather_ms: float = Field(
        2.0, ge=0, description="While a batch call to a service is out, a Score that finds a "
        "free slot waits this long at most for others to share its call (none when no call is "
        "out: a quiet system waits for nothing); 0: send at once.",
    )

    batch_streams: bool = Field(
        True, description="Batch calls to each agent and the audit service travel as messages "
        "on one long-lived stream per method (a lane) instead of one call each, which costs less "
        "CPU, most of all at the agents and the audit service; false: one unary call per batch.",
    )
    batch_stream_max_age_s: float = Field(
        30.0, gt=0, description="A lane's stream is replaced by a new one after this long, so "
        "that batches follow new tasks of a service (round_robin) as new calls do; keep it "
        "below the services' MAX_CONNECTION_AGE_S.",
    )

    def batch_limits(self) -> BatchLimits:
        return BatchLimits(
            max_batch=self.batch_max_size,
            max_in_flight=self.batch_max_in_flight,
            gather_s=self.batch_gather_ms / 1000,
        )

    def agent_address(self, name: str, port: int) -> str:
        return self.agent_addrs.get(name) or self.agent_addr_template.format(name=name, port=port)
