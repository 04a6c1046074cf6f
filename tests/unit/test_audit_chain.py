"""Backend-neutral pieces of the audit log: keys, canonical bytes, chained lines."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from audit_service.index_rows import event_from_json, indexed_decision, indexed_entry_from_json
from audit_service.log.chain import (
    CONTEXT_BYTES_KEY,
    GENESIS_HASH,
    MalformedLine,
    canonical_json,
    canonical_record,
    chain_hash,
    decode_line,
    encode_line,
    record_from_json,
    record_to_json,
)
from audit_service.log.layout import audit_ref, parse_segment_key, segment_key, utc_day
from tests.unit.audit_builders import make_record


def test_segment_keys_follow_the_s3_layout() -> None:
    day = utc_day(1_717_286_399.0)  # 2024-06-01T23:59:59Z
    key = segment_key(day, "prod", "audit-7", 42)
    assert key == "audit/2024/06/01/prod/audit-7-000000000042.jsonl"
    name = parse_segment_key(key)
    assert name is not None
    assert (name.day, name.environment, name.writer_id, name.first_seq) == (
        "2024/06/01", "prod", "audit-7", 42,
    )
    assert audit_ref(key, 43) == f"{key}#43"


@pytest.mark.parametrize(
    "key",
    [
        "audit/2024/06/01/prod/audit-7.jsonl",
        "audit/2024/6/01/prod/w-000000000001.jsonl",
        "audit/2024/06/01/w-000000000001.jsonl",
        "other/2024/06/01/prod/w-000000000001.jsonl",
        "audit/2024/06/01/prod/w-000000000001.json",
    ],
)
def test_other_keys_are_not_segments(key: str) -> None:
    assert parse_segment_key(key) is None


def test_canonical_bytes_do_not_depend_on_how_the_record_was_built() -> None:
    built = make_record("d-1")
    parsed = type(built)()
    parsed.ParseFromString(built.SerializeToString())
    assert canonical_record(parsed) == canonical_record(built)
    assert canonical_record(make_record("d-1", risk=0.2)) != canonical_record(built)


def test_a_line_carries_the_record_and_its_chain_fields() -> None:
    record = make_record("d-1")
    canonical = canonical_record(record)
    line, record_hash = encode_line(canonical, 7, GENESIS_HASH)
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    decoded = decode_line(line)
    assert (decoded.seq, decoded.prev_hash, decoded.hash) == (7, GENESIS_HASH, record_hash)
    assert record_hash == chain_hash(GENESIS_HASH, canonical)
    assert decoded.recomputed_hash() == record_hash
    assert decoded.decision_id == "d-1"
    assert decoded.record() == record


def test_the_hash_depends_on_the_previous_hash() -> None:
    canonical = canonical_record(make_record("d-1"))
    assert chain_hash(GENESIS_HASH, canonical) != chain_hash("1" * 64, canonical)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"seq": 0, "prev_hash": GENESIS_HASH, "hash": GENESIS_HASH}).encode(), "seq"),
        (json.dumps({"seq": 1, "prev_hash": "abc", "hash": GENESIS_HASH}).encode(), "prev_hash"),
        (json.dumps({"seq": 1, "prev_hash": GENESIS_HASH}).encode(), "hash"),
    ],
)
def test_malformed_lines_say_what_is_wrong(line: bytes, problem: str) -> None:
    with pytest.raises(MalformedLine, match=problem):
        decode_line(line)


def test_index_rows_read_back_from_the_log_equal_those_written() -> None:
    record = make_record("d-1", success=False)
    line, _ = encode_line(canonical_record(record), 1, GENESIS_HASH)
    written = indexed_decision(record)
    assert indexed_entry_from_json(decode_line(line).body) == written
    event = event_from_json(written.event_json)
    assert (event.user_id, event.latitude, event.login_successful) == ("alice", 59.91, False)


def record_with_history():
    record = make_record("d-1")
    past = record.context.history.add()
    past.event.CopyFrom(record.event)
    past.event.event_id = "ev-earlier"
    past.risk = 0.25
    record.context.ip_users = 3
    return record


def test_the_context_is_kept_as_protobuf_bytes_and_read_back_whole() -> None:
    record = record_with_history()
    line, _ = encode_line(canonical_record(record), 1, GENESIS_HASH)
    decoded = decode_line(line)
    assert "context" not in decoded.body
    assert isinstance(decoded.body[CONTEXT_BYTES_KEY], str)
    assert decoded.record() == record
    changed = record_with_history()
    changed.context.history[0].risk = 0.5
    assert canonical_record(changed) != canonical_record(record)


def test_a_line_whose_context_is_in_the_json_mapping_still_reads() -> None:
    record = record_with_history()
    body = json_format.MessageToDict(record, preserving_proto_field_name=True)
    assert record_from_json(body) == record


def test_context_bytes_that_are_not_a_context_are_refused() -> None:
    body = record_to_json(record_with_history())
    body[CONTEXT_BYTES_KEY] = "bm90IGEgY29udGV4dA=="  # "not a context"
    with pytest.raises(json_format.ParseError, match=CONTEXT_BYTES_KEY):
        record_from_json(body)


def test_the_canonical_bytes_are_the_canonical_json_of_the_record() -> None:
    # canonical_record splices the context's base64 into json.dumps' output: the bytes
    # must stay those of the JSON mapping, with and without a context, with a review.
    reviewed = make_record("d-2")
    reviewed.ClearField("context")
    reviewed.review.reviewer = "alice"
    reviewed.environment = "prod"
    for record in (record_with_history(), make_record("d-1"), reviewed):
        assert canonical_record(record) == canonical_json(record_to_json(record))
        assert json.loads(canonical_record(record)) == record_to_json(record)
