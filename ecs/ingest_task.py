"""What only the stream consumer's task gets: its streams and lease table (ingest_service's
definitions, the same the local cluster creates on moto), rights on those alone, its settings,
and scaling on how far behind the input stream it reads."""

from __future__ import annotations

from ecs.cfn import Json, get_att, ref, sub
from ecs.config import IngestConfig
from ingest_service import resources

INPUT_STREAM_ID = "IngestInputStream"
OUTPUT_STREAM_ID = "IngestOutputStream"
DEAD_LETTER_STREAM_ID = "IngestDeadLetterStream"
LEASE_TABLE_ID = "IngestLeaseTable"
STREAM_IDS = {
    resources.INPUT: INPUT_STREAM_ID,
    resources.OUTPUT: OUTPUT_STREAM_ID,
    resources.DEAD_LETTERS: DEAD_LETTER_STREAM_ID,
}
# Exactly what the consumer calls (ingest_service.consumer, .leases, .publish). The streams'
# key is Kinesis's own (alias/aws/kinesis), which needs no KMS grant.
READ_ACTIONS = ("kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords")
PUT_ACTIONS = ("kinesis:PutRecords",)
LEASE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem")
# The age of the last record GetRecords returned: how far behind the consumers read.
ITERATOR_AGE_METRIC = "GetRecords.IteratorAgeMilliseconds"


def ingest_resources() -> dict[str, Json]:
    """The three streams and the lease table, by logical id."""
    streams = {STREAM_IDS[s]: resources.cloudformation_stream(s) for s in resources.STREAMS}
    return streams | {LEASE_TABLE_ID: resources.cloudformation_lease_table()}


def ingest_settings() -> Json:
    """The consumer's settings (without their env prefix) that name its streams and table."""
    return {
        **{s.setting.upper(): ref(STREAM_IDS[s]) for s in resources.STREAMS},
        "LEASE_TABLE": ref(LEASE_TABLE_ID),
        "AWS_REGION": ref("AWS::Region"),
    }


def ingest_task_statements() -> list[Json]:
    """Read the input stream, put on the output and dead-letter streams, and keep leases in
    the lease table: nothing else of Kinesis or DynamoDB (and no audit storage)."""
    return [
        {"Effect": "Allow", "Action": list(READ_ACTIONS),
         "Resource": get_att(INPUT_STREAM_ID, "Arn")},
        {"Effect": "Allow", "Action": list(PUT_ACTIONS),
         "Resource": [get_att(OUTPUT_STREAM_ID, "Arn"), get_att(DEAD_LETTER_STREAM_ID, "Arn")]},
        {"Effect": "Allow", "Action": list(LEASE_ACTIONS),
         "Resource": get_att(LEASE_TABLE_ID, "Arn")},
    ]


def iterator_age_policy(service_name: str, scalable_target_id: str, config: IngestConfig,
                        cooldowns: tuple[int, int]) -> Json:
    """Target tracking on the input stream's oldest unread age (the maximum over its shards):
    consumers are added while it stays above the target, and removed when well below."""
    scale_out, scale_in = cooldowns
    return {
        "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
        "Properties": {
            "PolicyName": sub(f"aegis-${{Environment}}-{service_name}-iterator-age"),
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": ref(scalable_target_id),
            "TargetTrackingScalingPolicyConfiguration": {
                "CustomizedMetricSpecification": {
                    "Namespace": "AWS/Kinesis",
                    "MetricName": ITERATOR_AGE_METRIC,
                    "Dimensions": [{"Name": "StreamName", "Value": ref(INPUT_STREAM_ID)}],
                    "Statistic": "Maximum",
                    "Unit": "Milliseconds",
                },
                "TargetValue": config.iterator_age_target_ms,
                "ScaleOutCooldown": scale_out,
                "ScaleInCooldown": scale_in,
            },
        },
    }


def ingest_outputs() -> dict[str, Json]:
    return {
        "IngestInputStreamName": {"Description": "Kinesis stream of LoginEvent records "
                                  "(partition key: user id).", "Value": ref(INPUT_STREAM_ID)},
        "IngestOutputStreamName": {"Description": "Kinesis stream of the decisions.",
                                   "Value": ref(OUTPUT_STREAM_ID)},
        "IngestDeadLetterStreamName": {"Description": "Kinesis stream of records that could "
                                       "not be scored, with why.",
                                       "Value": ref(DEAD_LETTER_STREAM_ID)},
    }
