"""The configuration of each task's collector sidecar (AWS Distro for OpenTelemetry): OTLP in on
loopback, traces to X-Ray, metrics to CloudWatch as embedded metric format.

It is written here rather than taken from the image (its ecs-cloudwatch-xray.yaml) so that the
CloudWatch metrics and their dimension sets are stated, not assumed: the EMF exporter makes a
CloudWatch metric only for what a declaration selects, with exactly the dimension sets it lists
(no roll-ups), and the alarms (ecs/alarms.py) may read only those (tests/unit/test_ecs_alarms.py).
"""

from __future__ import annotations

import re

import yaml

from ecs.cfn import Json
from ecs.environment import OTLP_ENDPOINT

METRICS_NAMESPACE = "ECS/AWSOTel/Application"
METRICS_LOG_GROUP = "/aws/ecs/application/metrics"
# The exporter's dimension of the instrumentation scope: the services' meter name.
SCOPE_DIMENSION = "OTelLib"
# ADOT reads its whole configuration from this variable when it is set.
CONFIG_VARIABLE = "AOT_CONFIG_CONTENT"

# OpenTelemetry metric name -> the label sets (beside OTelLib) it is a CloudWatch metric by.
CLOUDWATCH_METRICS: dict[str, tuple[tuple[str, ...], ...]] = {
    "aegis.router.scores": ((), ("outcome",)),
    "aegis.router.score.duration": ((),),
    "aegis.router.agent.signals": (("agent",), ("agent", "status")),
    "aegis.router.agent.duration": (("agent",),),
    "aegis.router.decisions.without_context": ((),),
    "aegis.router.decision.rate": (("action",),),
    "aegis.agent.drift.psi": ((), ("agent", "quantity")),
    "aegis.audit.reviews.pending": ((),),
    "aegis.audit.reviews.oldest_pending_age": ((),),
}


def metric_declarations() -> list[Json]:
    return [
        {"dimensions": [[SCOPE_DIMENSION, *labels] for labels in label_sets],
         "metric_name_selectors": [f"^{re.escape(name)}$"]}
        for name, label_sets in CLOUDWATCH_METRICS.items()
    ]


def collector_config() -> Json:
    host_port = OTLP_ENDPOINT.removeprefix("http://")
    return {
        "extensions": {"health_check": {}},
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": host_port}}}},
        "processors": {"batch/traces": {"timeout": "1s", "send_batch_size": 50},
                       "batch/metrics": {"timeout": "60s"}},
        "exporters": {
            "awsxray": {},
            "awsemf": {
                "namespace": METRICS_NAMESPACE,
                "log_group_name": METRICS_LOG_GROUP,
                "dimension_rollup_option": "NoDimensionRollup",
                "metric_declarations": metric_declarations(),
            },
        },
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch/traces"],
                           "exporters": ["awsxray"]},
                "metrics": {"receivers": ["otlp"], "processors": ["batch/metrics"],
                            "exporters": ["awsemf"]},
            },
        },
    }


def collector_environment() -> list[Json]:
    """The sidecar's environment: its configuration, as YAML."""
    return [{"Name": CONFIG_VARIABLE, "Value": yaml.safe_dump(collector_config(), sort_keys=False)}]
