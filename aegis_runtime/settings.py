"""Settings base: every service reads its own prefixed environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `model_config` with their env prefix."""

    model_config = SettingsConfigDict(env_prefix="AEGIS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the gRPC server binds to.")
    port: int = Field(0, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    environment: str = Field(
        "local", pattern=r"^[a-z0-9-]{1,32}$", description="Deployment environment name."
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: str = Field(
        "json", pattern="^(json|text)$", description="json for machines, text for people."
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="HTTP port of the Prometheus `/metrics` endpoint on "
        "HOST; unset: none (OTLP export is OTEL_METRICS_EXPORTER's).",
    )
    slow_call_ms: float = Field(
        500.0, gt=0, description="A served call slower than this is logged (at most one line "
        "a second) with its method, status and trace id: rpc.server.duration keeps no "
        "exemplars, so these lines link its slow buckets to traces.",
    )
    grace_period_s: float = Field(
        20.0,
        gt=0,
        description="Drain time on SIGTERM; below ECS's stopTimeout (30 s) so calls finish.",
    )
    max_connection_age_s: float = Field(
        300.0,
        gt=0,
        description="Servers close connections after this age so clients rebalance onto new "
        "tasks (round_robin over DNS).",
    )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"
