"""The command line's argument and input errors: clear messages, exit 2, nothing sent."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aegis_cli.cmd_generate import write_jsonl
from aegis_cli.main import build_parser, main
from aegis_lab.world import WorldConfig, generate

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
    listed = [line for line in err.splitlines() if ": line " in line]
    assert len(listed) == 2000
    assert f"{damaged}: line 2001: Login Timestamp:" in listed[-1]


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
