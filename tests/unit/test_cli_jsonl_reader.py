"""The JSONL reader: LoginEvent in protobuf JSON per line, every bad line named with its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_cli.readers import InputError, detect_format, read_events
from router_service.client.rows import BadRow, Labels, ParsedRow

EVENT = {
    "event_id": "e-1",
    "timestamp": "2024-05-01T08:30:00.250Z",
    "user_id": "alice",
    "ip": "81.166.1.2",
    "country": "NO",
    "deviceType": "DEVICE_TYPE_MOBILE",
    "login_successful": True,
    "round_trip_time_ms": 310.0,
}


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def line_of(**changes: object) -> str:
    obj = {**EVENT, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not None})


def test_a_valid_line_becomes_the_event_in_either_json_naming(tmp_path: Path) -> None:
    [row] = read_events(write(tmp_path, line_of()), "jsonl")

    assert isinstance(row, ParsedRow)
    assert (row.line, row.row, row.labels) == (1, 1, None)
    assert row.event.user_id == "alice"
    assert row.event.device_type == pb.DEVICE_TYPE_MOBILE
    assert row.event.timestamp.ToJsonString() == "2024-05-01T08:30:00.250Z"
    assert row.event.round_trip_time_ms == 310.0


def test_labels_beside_the_event_come_apart_from_it(tmp_path: Path) -> None:
    labels = {"is_attack_ip": True, "is_account_takeover": False}
    [row] = read_events(write(tmp_path, line_of(labels=labels)), "jsonl")

    assert isinstance(row, ParsedRow)
    assert row.labels == Labels(is_attack_ip=True, is_account_takeover=False)


@pytest.mark.parametrize(
    ("line", "column", "detail"),
    [
        ("{not json", "", "not valid JSON"),
        ("[1, 2]", "", "expected a JSON object"),
        (line_of(colour="red"), "colour", "unknown field"),
        (line_of(ip=5), "ip", "is not valid here"),
        (line_of(timestamp="43:30.8"), "timestamp", "is not valid here"),
        (line_of(deviceType="PHONE"), "device_type", "is not valid here"),
        (line_of(asn=-1), "asn", "is not valid here"),
        (line_of(userId="bob"), "user_id", "given twice"),
        (line_of(user_id=None), "user_id", "is required"),
        (line_of(ip="300.1.1.1"), "ip", "is not an IPv4 or IPv6 address"),
        (line_of(timestamp="2999-01-01T00:00:00Z"), "timestamp", "outside the accepted range"),
        (line_of(labels={"is_attack_ip": "yes"}), "labels", "must be an object"),
    ],
)
def test_a_bad_line_is_flagged_with_its_field(
    tmp_path: Path, line: str, column: str, detail: str
) -> None:
    rows = list(read_events(write(tmp_path, line_of(event_id="ok"), line), "jsonl"))

    assert isinstance(rows[0], ParsedRow)
    bad = rows[1]
    assert isinstance(bad, BadRow)
    assert bad.line == 2
    assert [p.column for p in bad.problems][:1] == [column]
    assert detail in str(bad)
    assert str(bad).startswith("line 2: ")


def test_every_bad_field_of_a_line_is_reported_at_once(tmp_path: Path) -> None:
    [bad] = read_events(write(tmp_path, line_of(ip=5, asn="many", colour="red")), "jsonl")

    assert isinstance(bad, BadRow)
    assert sorted(p.column for p in bad.problems) == ["asn", "colour", "ip"]


def test_blank_lines_are_not_records_but_count_as_lines(tmp_path: Path) -> None:
    path = write(tmp_path, line_of(event_id="a"), "", "   ", line_of(event_id="b", ip="x"))

    rows = list(read_events(path, "jsonl"))

    assert [(type(r).__name__, r.line, r.row) for r in rows] == [
        ("ParsedRow", 1, 1), ("BadRow", 4, 2),
    ]


def test_bytes_that_are_not_utf8_stop_the_read_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(line_of().encode() + b"\n" + b'{"user_id": "\xff"}\n')

    rows = read_events(path, "jsonl")

    assert isinstance(next(rows), ParsedRow)
    with pytest.raises(InputError, match="line 2: not UTF-8"):
        next(rows)


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(read_events(tmp_path / "absent.jsonl", "jsonl"))


def test_the_format_comes_from_the_extension_unless_given() -> None:
    assert detect_format(Path("a.csv")) == "rba"
    assert detect_format(Path("a.JSONL")) == "jsonl"
    assert detect_format(Path("a.ndjson")) == "jsonl"
    assert detect_format(Path("a.txt"), "rba") == "rba"
    with pytest.raises(InputError, match=r"pass --format rba\|jsonl"):
        detect_format(Path("a.txt"))
