"""The RBA CSV reader: field mapping, labels kept apart, every malformed row flagged by line."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_cli import rba
from aegis_cli.readers import InputError, read_events
from aegis_domain.digest import content_event_id
from router_service.client.rows import BadRow, Labels, ParsedRow

HEADER = ",".join(rba.COLUMNS)
GOOD = (
    '7,2020-02-03 12:43:30.772,-4324475583306591935,1123.0,10.0.65.171,NO,Vestland,Bergen,'
    '29695,"Mozilla/5.0 (X11, Linux)",Chrome 86.0,Linux,desktop,True,False,True'
)


def csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def write(tmp_path: Path, *lines: str, name: str = "logins.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_all(path: Path) -> list[ParsedRow | BadRow]:
    return list(read_events(path, "rba"))


def test_the_first_19_rows_are_mapped_field_by_field(rba_dir: Path) -> None:
    rows = read_all(rba_dir / "rba-head19.csv")

    assert [type(r) for r in rows] == [ParsedRow] * 19
    assert [r.line for r in rows] == list(range(2, 21))
    first = rows[0]
    assert isinstance(first, ParsedRow)
    e = first.event
    assert e.event_id == content_event_id(pb.LoginEvent(
        timestamp=e.timestamp, user_id=e.user_id, ip=e.ip, country=e.country, asn=e.asn,
        user_agent=e.user_agent, browser=e.browser, os=e.os, device_type=e.device_type,
    ), "rba-")
    assert e.timestamp.ToDatetime(tzinfo=UTC) == datetime(2020, 2, 3, 12, 43, 30, 772000, UTC)
    assert e.user_id == "-4324475583306591935"
    assert not e.HasField("round_trip_time_ms")
    assert (e.ip, e.country, e.region, e.city, e.asn) == ("10.0.65.171", "NO", "", "", 29695)
    assert e.user_agent.startswith("Mozilla/5.0  (iPhone; CPU iPhone OS 13_4")
    assert (e.browser, e.os) == ("Firefox 20.0.0.1618", "iOS 13.4")
    assert e.device_type == pb.DEVICE_TYPE_MOBILE
    assert e.login_successful is False

    by_index = {str(r.line - 2): r for r in rows if isinstance(r, ParsedRow)}
    assert by_index["2"].event.region == "Vestland"
    assert by_index["2"].event.city == "Urangsvag"
    assert by_index["2"].event.login_successful is True
    assert by_index["15"].event.round_trip_time_ms == 1123.0
    assert by_index["6"].event.device_type == pb.DEVICE_TYPE_DESKTOP
    assert by_index["4"].labels == Labels(is_attack_ip=True, is_account_takeover=False)
    assert by_index["0"].labels == Labels(is_attack_ip=False, is_account_takeover=False)


def test_labels_never_reach_the_event(rba_dir: Path) -> None:
    rows = read_all(rba_dir / "rba-head19.csv")

    field_names = {f.name for f in pb.LoginEvent.DESCRIPTOR.fields}
    assert not any("attack" in name or "takeover" in name for name in field_names)
    attack_rows = [
        r for r in rows if isinstance(r, ParsedRow) and r.labels and r.labels.is_attack_ip
    ]
    assert [r.line for r in attack_rows] == [6, 7]


def test_every_row_of_the_spreadsheet_damaged_file_is_flagged(rba_dir: Path) -> None:
    rows = read_all(rba_dir / "rba-head2000-spreadsheet-damaged.csv")

    assert len(rows) == 2000
    assert all(isinstance(r, BadRow) for r in rows)
    assert [r.line for r in rows] == list(range(2, 2002))
    columns = Counter(p.column for r in rows if isinstance(r, BadRow) for p in r.problems)
    assert columns == {
        rba.TIMESTAMP: 2000, rba.USER_ID: 2000, rba.LOGIN_SUCCESSFUL: 2000,
        rba.IS_ATTACK_IP: 2000, rba.IS_ACCOUNT_TAKEOVER: 2000,
    }
    first = str(rows[0])
    assert first.startswith("line 2: Login Timestamp: '43:30.8' is not a timestamp")
    assert "User ID: '-4.32E+18' is in scientific notation" in first
    assert "Login Successful: 'FALSE' must be written exactly True or False" in first


def test_a_scientific_user_id_is_refused_never_rounded(tmp_path: Path) -> None:
    row = GOOD.replace("-4324475583306591935", "-4.32E+18")
    [bad] = read_all(write(tmp_path, HEADER, row))

    assert isinstance(bad, BadRow)
    assert [p.column for p in bad.problems] == [rba.USER_ID]
    assert "distinct users would merge" in bad.problems[0].message


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [
        ("2020-02-03 12:43:30.772", "43:30.8", rba.TIMESTAMP),
        ("2020-02-03 12:43:30.772", "2020-02-30 12:43:30.772", rba.TIMESTAMP),
        ("-4324475583306591935", "-9223372036854775809", rba.USER_ID),
        ("-4324475583306591935", "alice", rba.USER_ID),
        ("1123.0", "fast", rba.ROUND_TRIP_TIME),
        ("1123.0", "nan", rba.ROUND_TRIP_TIME),
        ("10.0.65.171", "10.0.65", rba.IP),
        (",NO,", ",Norway,", rba.COUNTRY),
        ("29695", "-1", rba.ASN),
        ("desktop", "phone", rba.DEVICE_TYPE),
        ("desktop,True", "desktop,TRUE", rba.LOGIN_SUCCESSFUL),
        ("desktop,True", "desktop,yes", rba.LOGIN_SUCCESSFUL),
        ("False,True", "False,true", rba.IS_ACCOUNT_TAKEOVER),
        ("7,", "x7,", rba.INDEX),
    ],
)
def test_a_bad_value_names_its_column(tmp_path: Path, old: str, new: str, column: str) -> None:
    assert old in GOOD
    [bad] = read_all(write(tmp_path, HEADER, GOOD.replace(old, new, 1)))

    assert isinstance(bad, BadRow)
    assert bad.line == 2
    assert [p.column for p in bad.problems] == [column]


def test_a_valid_row_keeps_the_known_places_and_its_round_trip_time(tmp_path: Path) -> None:
    [row] = read_all(write(tmp_path, HEADER, GOOD))

    assert isinstance(row, ParsedRow)
    assert (row.event.region, row.event.city) == ("Vestland", "Bergen")
    assert row.event.round_trip_time_ms == 1123.0
    assert row.event.user_agent == "Mozilla/5.0 (X11, Linux)"
    assert row.labels == Labels(is_attack_ip=False, is_account_takeover=True)


def test_line_numbers_count_the_lines_of_a_quoted_multiline_field(tmp_path: Path) -> None:
    multiline = GOOD.replace('"Mozilla/5.0 (X11, Linux)"', '"Mozilla/5.0\n(X11,\nLinux)"')
    broken = GOOD.replace("desktop", "phone")
    path = write(tmp_path, HEADER, multiline, broken, "", broken)

    rows = read_all(path)

    assert [(type(r).__name__, r.line, r.row) for r in rows] == [
        ("BadRow", 2, 1), ("BadRow", 5, 2), ("BadRow", 7, 3),
    ]
    # Line feeds are control characters, refused in every text field of an event.
    first = rows[0]
    assert isinstance(first, BadRow)
    assert [p.column for p in first.problems] == [rba.USER_AGENT]


def test_a_row_with_the_wrong_number_of_fields_is_flagged(tmp_path: Path) -> None:
    [bad] = read_all(write(tmp_path, HEADER, GOOD + ",extra"))

    assert isinstance(bad, BadRow)
    assert str(bad) == "line 2: has 17 fields; the header has 16"


def test_columns_may_come_in_any_order_and_labels_may_be_absent(tmp_path: Path) -> None:
    values = dict(zip(rba.COLUMNS, next(csv.reader([GOOD])), strict=True))
    order = list(reversed(rba.EVENT_COLUMNS))
    path = write(tmp_path, csv_line(order), csv_line([values[c] for c in order]))

    [row] = read_all(path)

    assert isinstance(row, ParsedRow)
    assert row.labels is None
    assert row.event.user_id == "-4324475583306591935"


def test_a_header_that_is_not_the_rba_layout_stops_the_read(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.replace("Login Timestamp", "Time"), GOOD)

    with pytest.raises(InputError, match=r"line 1: .*missing columns \['Login Timestamp'\]"):
        read_all(path)


def test_the_reader_streams_rows_before_reaching_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "logins.csv"
    path.write_bytes((HEADER + "\n" + GOOD + "\n").encode() + b"\xff\xfe broken\n")

    rows = read_events(path, "rba")
    first = next(rows)

    assert isinstance(first, ParsedRow)
    with pytest.raises(InputError, match="line 3: not UTF-8"):
        next(rows)


def test_an_event_id_names_the_login_not_its_row(tmp_path: Path) -> None:
    """The index repeats in every file (0, 1, ...): ids come from the content, so the same
    login keeps its id at another position, and another login at the same position gets
    another id."""
    other = GOOD.replace("10.0.65.171", "10.0.65.172")
    [good, changed] = read_all(write(tmp_path, HEADER, GOOD, other.replace("7,", "8,", 1)))
    [moved, same_index] = read_all(
        write(tmp_path, HEADER, GOOD.replace("7,", "0,", 1), other, name="second.csv")
    )
    assert isinstance(good, ParsedRow) and isinstance(changed, ParsedRow)
    assert isinstance(moved, ParsedRow) and isinstance(same_index, ParsedRow)

    assert good.event.event_id.startswith("rba-")
    assert moved.event.event_id == good.event.event_id
    assert same_index.event.event_id == changed.event.event_id != good.event.event_id


def test_format_row_writes_what_the_reader_reads_back(tmp_path: Path) -> None:
    [row] = read_all(write(tmp_path, HEADER, GOOD))
    assert isinstance(row, ParsedRow) and row.labels is not None

    written = csv_line(rba.format_row(7, row.event, row.labels))
    [again] = read_all(write(tmp_path, HEADER, written, name="again.csv"))

    assert isinstance(again, ParsedRow)
    assert again.event == row.event
    assert again.labels == row.labels
