"""The command line's argument and input errors: clear messages, exit 2, nothing sent."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aegis_cli.cmd_generate import write_jsonl
from aegis_cli.errors import BROKEN_PIPE
from aegis_cli.main import build_parser, main
from aegis_lab.world import WorldConfig, generate
from router_service.settings import RouterSettings

# Nothing listens on port 1: a command that reached for the network would fail with exit 1.
NOWHERE = "127.0.0.1:1"


def exit_code_of(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    return int(raised.value.code or 0)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code_of(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("score", "replay", "agent", "audit", "generate", "cluster", "train",
                    "evaluate"):
        assert command in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["replay"], "required: FILE"),
        (["replay", "x.csv", "--format", "xml"], "invalid choice: 'xml'"),
        (["replay", "x.csv", "--limit", "0"], "0 must be > 0"),
        (["replay", "x.csv", "--on-error", "ignore"], "invalid choice: 'ignore'"),
        (["score", "--timestamp", "yesterday"], "'yesterday' is not ISO 8601"),
        (["score", "--asn", "many"], "invalid int value: 'many'"),
        (["score", "--device-type", "phone"], "invalid choice: 'phone'"),
        (["agent", "oracle"], "invalid choice: 'oracle'"),
        (["audit"], "required: ACTION"),
        (["generate", "--users", "0"], "0 must be > 0"),
        (["generate", "--events", "-5"], "-5 must be >= 0"),
        (["cluster", "up", "--audit", "dynamo"], "invalid choice: 'dynamo'"),
        (["cluster", "run", "--events", "x"], "'x' is not an integer"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code_of(argv) == 2
    assert message in capsys.readouterr().err


def test_a_file_of_unknown_extension_needs_a_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "logins.txt"), "--router", NOWHERE]) == 2
    assert "pass --format rba|jsonl" in capsys.readouterr().err


def test_a_missing_file_is_reported_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "absent.csv"), "--router", NOWHERE]) == 2
    assert "absent.csv: cannot read" in capsys.readouterr().err


def test_a_damaged_file_is_refused_whole_with_each_line_listed(
    rba_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = rba_dir / "rba-head2000-spreadsheet-damaged.csv"

    status = main(["replay", str(damaged), "--router", NOWHERE, "--max-problems", "0"])

    err = capsys.readouterr().err
    assert status == 2
    assert "2000 of 2000 rows are malformed" in err
    assert "nothing was scored" in err
    listed = [line for line in err.splitlines() if line.startswith("  line ")]
    assert len(listed) == 2000
    assert listed[-1].startswith("  line 2001: Login Timestamp, User ID")


def test_a_damaged_file_is_refused_in_a_screenful_that_explains_each_column(
    rba_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = rba_dir / "rba-head2000-spreadsheet-damaged.csv"

    status = main(["replay", str(damaged), "--router", NOWHERE])

    err = capsys.readouterr().err.splitlines()
    assert status == 2
    assert len(err) <= 24
    assert max(len(line) for line in err) <= 200
    assert len([line for line in err if "2000 rows, e.g. line 2: " in line]) == 5
    assert any("User ID" in line and "2000 rows, e.g. line 2: '-4.32E+18' is in scientific"
               in line for line in err)
    assert "... 1995 more" in err[-2]
    assert "No row is valid" in err[-1]
    assert "--on-error skip" not in err[-1]


def test_a_file_with_valid_rows_is_refused_with_the_hint_to_skip(
    rba_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (rba_dir / "rba-head19.csv").read_text().splitlines()
    damaged = (rba_dir / "rba-head2000-spreadsheet-damaged.csv").read_text().splitlines()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([*good[:4], damaged[4]]) + "\n")

    assert main(["replay", str(mixed), "--router", NOWHERE]) == 2

    last = capsys.readouterr().err.splitlines()[-1]
    assert "1 of 4 rows are malformed" in last
    assert "--on-error skip scores the 3 valid rows" in last


def test_a_refused_file_reports_its_problems_as_json_under_json(
    rba_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = rba_dir / "rba-head2000-spreadsheet-damaged.csv"

    status = main(["replay", str(damaged), "--router", NOWHERE, "--json"])

    refused = json.loads(capsys.readouterr().out)
    assert status == refused["exit_status"] == 2
    assert (refused["rows"], refused["malformed"]) == (2000, 2000)
    assert refused["problems_by_column"]["User ID"] == 2000
    assert [row["line"] for row in refused["malformed_rows"]] == [2, 3, 4, 5, 6]
    assert refused["malformed_rows"][0]["problems"][0] == {
        "column": "Login Timestamp",
        "message": "'43:30.8' is not a timestamp like 2020-02-03 12:43:30.772 "
                   "(YYYY-MM-DD HH:MM:SS[.fff], UTC); a spreadsheet may have cut the date off",
    }


def test_an_unparsable_event_file_names_each_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"ip": 5, "colour": "red"}')

    assert main(["score", "--json-file", str(event), "--router", NOWHERE]) == 2

    err = capsys.readouterr().err
    assert "ip: 5 is not valid here" in err
    assert "colour: unknown field" in err


def test_an_invalid_event_is_refused_before_asking_an_agent(
    capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["agent", "geo", "--user", "u1", "--ip", "not-an-ip", "--addr", NOWHERE]

    assert main(argv) == 2
    assert "invalid event: event.ip: 'not-an-ip' is not an IPv4" in capsys.readouterr().err


def test_addresses_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_ROUTER_ADDR", "router.internal:6000")
    monkeypatch.setenv("AEGIS_AUDIT_ADDR", "audit.internal:6001")
    parser = build_parser()

    assert parser.parse_args(["score"]).router == "router.internal:6000"
    assert parser.parse_args(["audit", "verify"]).audit_addr == "audit.internal:6001"
    assert parser.parse_args(["score", "--router", "h:1"]).router == "h:1"


def test_generate_writes_to_stdout_or_a_file_the_same_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["generate", "--users", "8", "--events", "40", "--seed", "5"]
    expected = io.StringIO()
    write_jsonl(generate(WorldConfig(users=8, events=40, seed=5)), expected)

    assert main(argv) == 0
    assert capsys.readouterr().out == expected.getvalue()
    assert main([*argv, "--out", str(tmp_path / "g.jsonl")]) == 0
    assert (tmp_path / "g.jsonl").read_text() == expected.getvalue()


def test_generate_refuses_an_attack_share_out_of_range(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--attack-share", "0.9"]) == 2
    assert "attack share must be within [0, 0.5]" in capsys.readouterr().err


def test_output_cut_short_by_its_reader_ends_quietly() -> None:
    # More than a pipe holds: the command is still writing when the reader goes away.
    command = [sys.executable, "-m", "aegis_cli", "generate", "--events", "3000"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith(b'{"event_id"')
        process.stdout.close()
        err = process.stderr.read().decode()
        status = process.wait(timeout=60)

    assert (status, err) == (BROKEN_PIPE, "")


def test_a_too_large_event_is_refused_before_sending_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"user_id": "u1", "ip": "81.166.1.2",
                                 "user_agent": "M" * 10_000_000}))

    status = main(["score", "--json-file", str(event), "--router", NOWHERE, "--json"])

    captured = capsys.readouterr()
    assert status == 2
    assert "event.user_agent: is 10000000 characters long; at most 1024" in captured.err
    assert json.loads(captured.out)["field"] == "event.user_agent"


def test_replay_keeps_as_many_requests_out_as_the_router_scores_of_a_stream() -> None:
    # A smaller window leaves the mesh idle on bulk work (the logins of one user wait for
    # each other); a larger one only queues in the router.
    args = build_parser().parse_args(["replay", "logins.jsonl"])
    assert args.max_in_flight == RouterSettings.model_fields["replay_concurrency"].default
