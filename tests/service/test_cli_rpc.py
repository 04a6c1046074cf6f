"""The command line's RPC paths against small real servicers of the protos on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from aegis.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
)
from aegis.v1 import common_pb2 as pb
from aegis_cli import cmd_replay
from aegis_cli.cmd_generate import write_jsonl
from aegis_cli.main import main
from aegis_cli.readers import accepted_window
from aegis_domain.validation import validate_event
from aegis_lab.world import WorldConfig, generate
from aegis_lab.world.rows import generated_rows
from aegis_runtime.channels import service_channel
from aegis_runtime.errors import InvalidArgument, grpc_errors
from aegis_runtime.server import RunningServer, ServiceBinding
from aegis_runtime.settings import ServiceSettings
from router_service.client.rows import Row
from router_service.client.stream import Outcome, replay
from router_service.client.summary import ReplaySummary

# Nothing listens on port 1 (privileged): calls there fail at once with UNAVAILABLE.
NOWHERE = "127.0.0.1:1"
# A user the fake router refuses although the reader accepts the event.
REFUSED_USER = "mallory"


class FakeRouter(router_pb2_grpc.RouterServiceServicer):
    """Decides from the country; with `hold`, replies only once that many requests wait
    (a client must keep them in flight to get anywhere)."""

    def __init__(
        self, hold: int = 1, abort_after: int = 0, silent: bool = False,
        abort_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE, end_every: int = 0,
    ) -> None:
        self.hold = hold
        # Asks the client to close each stream after taking this many requests, as the
        # router does when a stream's time is up.
        self.end_every = end_every
        self.abort_after = abort_after
        self.abort_code = abort_code
        self.silent = silent
        self.received = 0
        self.packs: list[int] = []

    @staticmethod
    def decide(event: pb.LoginEvent) -> pb.Decision:
        validate_event(event, accepted_window())
        if event.user_id == REFUSED_USER:
            raise InvalidArgument("event.user_id", "is on the refusal list")
        foreign = event.country != "NO"
        return pb.Decision(
            decision_id=f"d-{event.event_id}", event_id=event.event_id,
            action=pb.ACTION_CHALLENGE if foreign else pb.ACTION_ALLOW,
            risk=0.7 if foreign else 0.1, confidence=0.8, latency_ms=12.5,
            signals=[
                pb.AgentSignal(agent="geo", status=pb.SIGNAL_STATUS_OK, risk=0.5),
                pb.AgentSignal(agent="network", status=pb.SIGNAL_STATUS_NO_MODEL),
            ],
        )

    @grpc_errors
    async def Score(self, request: router_pb2.ScoreRequest, context: Any) -> Any:
        return router_pb2.ScoreResponse(decision=self.decide(request.event))

    async def ScoreStream(
        self, requests: AsyncIterator[router_pb2.ScoreStreamRequest], context: Any
    ) -> AsyncIterator[router_pb2.ScoreStreamResponse]:
        waiting: deque[router_pb2.ScoreStreamRequest] = deque()
        taken = 0
        async for request in self.unpacked(requests):
            self.received += 1
            taken += 1
            if self.received == self.abort_after:
                await context.abort(self.abort_code, "audit store unreachable")
            waiting.append(request)
            while not self.silent and len(waiting) >= self.hold:
                yield self.reply(waiting.popleft())
            if taken == self.end_every:
                yield router_pb2.ScoreStreamResponse(closing=True)
        while waiting and not self.silent:
            yield self.reply(waiting.popleft())
        if self.silent:
            await asyncio.Event().wait()

    async def unpacked(
        self, messages: AsyncIterator[router_pb2.ScoreStreamRequest]
    ) -> AsyncIterator[router_pb2.ScoreStreamRequest]:
        """The requests of packed messages (their counts in `packs`); the fake replies one a
        message, as a router may."""
        async for message in messages:
            self.packs.append(len(message.items))
            for request in message.items or (message,):
                yield request

    def reply(self, request: router_pb2.ScoreStreamRequest) -> router_pb2.ScoreStreamResponse:
        try:
            decision = self.decide(request.event)
        except InvalidArgument as exc:
            error = router_pb2.ScoreError(code=3, message=exc.message, field=exc.field)
            return router_pb2.ScoreStreamResponse(client_ref=request.client_ref, error=error)
        return router_pb2.ScoreStreamResponse(client_ref=request.client_ref, decision=decision)


class FakeAudit(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, reply: audit_pb2.VerifyResponse) -> None:
        self.verify_reply = reply

    async def Verify(self, request: audit_pb2.VerifyRequest, context: Any) -> Any:
        return self.verify_reply


class FakeAgent(agent_pb2_grpc.AgentServiceServicer):
    """Its risk is the number of past logins it was shown, a tenth each."""

    async def Assess(self, request: agent_pb2.AssessRequest, context: Any) -> Any:
        return agent_pb2.AssessResponse(signal=pb.AgentSignal(
            agent="geo", status=pb.SIGNAL_STATUS_OK, risk=len(request.context.history) / 10,
            confidence=0.9, reasons=[pb.Reason(code="SEEN", message=request.event.country)],
        ))

    async def Describe(self, request: agent_pb2.DescribeRequest, context: Any) -> Any:
        return agent_pb2.DescribeResponse(
            name="geo", model_version="geo-7", state=agent_pb2.AGENT_STATE_READY,
            features=["latitude", "longitude"],
        )


class Hosted:
    """One hand-written servicer as a component of a RunningServer."""

    def __init__(self, module: Any, service: str, servicer: Any) -> None:
        self.module, self.service, self.servicer = module, service, servicer

    def bindings(self) -> Sequence[ServiceBinding]:
        add = getattr(self.module, f"add_{self.service}Servicer_to_server")
        name = f"aegis.v1.{self.service}"
        return [ServiceBinding(name, lambda server: add(self.servicer, server))]

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def settings(port: int = 0) -> ServiceSettings:
    return ServiceSettings(port=port, grace_period_s=1.0, log_format="text")


@contextlib.contextmanager
def serving(component: Hosted, port: int = 0) -> Iterator[str]:
    """The server (on `port`, by default a free one) runs on its own loop in a thread: the
    command under test runs its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> RunningServer:
        server = RunningServer(component, settings(port))
        await server.start()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(1.0), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def router(**options: Any) -> Hosted:
    return Hosted(router_pb2_grpc, "RouterService", FakeRouter(**options))


def generated_file(tmp_path: Path, events: int = 40) -> Path:
    path = tmp_path / "logins.jsonl"
    with path.open("w") as out:
        write_jsonl(generate(WorldConfig(users=6, events=events, seed=4)), out)
    return path


def test_replay_scores_every_row_and_writes_a_line_for_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = generated_file(tmp_path)
    out = tmp_path / "decisions.jsonl"

    with serving(router(hold=3)) as address:
        status = main(["replay", str(source), "--router", address, "--json", "--out", str(out),
                       "--max-in-flight", "3", "--no-progress"])

    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert summary["rows"] == summary["decisions"] == 40
    assert summary["failed"] == 0
    assert sum(summary["actions"].values()) == 40
    assert summary["signal_statuses"]["geo"]["OK"] == 40
    assert summary["signal_statuses"]["network"]["NO_MODEL"] == 40
    assert sum(map(sum, (c.values() for c in summary["signal_statuses"].values()))) == 80
    assert summary["latency_ms"]["p50"] == pytest.approx(12.5, rel=0.01)
    assert sum(sum(c.values()) for c in summary["actions_by_ground_truth"].values()) == 40
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["line"] for line in lines) == list(range(1, 41))
    assert all(line["decision_id"] == f"d-{line['event_id']}" for line in lines)


@pytest.mark.parametrize(("kept", "reads"), [(cmd_replay.KEPT_ROWS, 1), (5, 2)])
def test_a_checked_file_is_read_once_unless_too_long_to_keep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    kept: int, reads: int,
) -> None:
    source = generated_file(tmp_path)
    out = tmp_path / "decisions.jsonl"
    opened: list[Path] = []
    real = cmd_replay.read_events

    def counted(path: Path, *args: Any) -> Iterator[Row]:
        opened.append(path)
        return real(path, *args)

    monkeypatch.setattr(cmd_replay, "read_events", counted)
    monkeypatch.setattr(cmd_replay, "KEPT_ROWS", kept)
    with serving(router(hold=3)) as address:
        status = main(["replay", str(source), "--router", address, "--json", "--out", str(out),
                       "--max-in-flight", "3", "--no-progress"])

    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert len(opened) == reads
    assert summary["rows"] == summary["decisions"] == 40
    sent = [json.loads(line) for line in source.read_text().splitlines()]
    decided = sorted((json.loads(line) for line in out.read_text().splitlines()),
                     key=lambda line: line["line"])
    assert [d["event_id"] for d in decided] == [e["event_id"] for e in sent]
    assert [d["labels"] for d in decided] == [e["labels"] for e in sent]


def test_a_row_the_router_refuses_is_reported_with_its_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "logins.jsonl"
    good = {"event_id": "e1", "timestamp": "2024-05-01T08:00:00Z", "user_id": "alice",
            "ip": "81.166.1.2", "country": "NO"}
    refused = good | {"event_id": "e2", "user_id": REFUSED_USER}
    source.write_text(json.dumps(good) + "\n" + json.dumps(refused) + "\n")
    out = tmp_path / "decisions.jsonl"

    with serving(router()) as address:
        status = main(["replay", str(source), "--router", address, "--json", "--out", str(out)])

    captured = capsys.readouterr()
    assert status == 1
    assert json.loads(captured.out)["errors"] == {"INVALID_ARGUMENT": 1}
    assert "line 2: INVALID_ARGUMENT (event.user_id)" in captured.err
    by_line = {json.loads(x)["line"]: json.loads(x) for x in out.read_text().splitlines()}
    assert by_line[1]["action"] == "ALLOW"
    assert by_line[2]["error"]["field"] == "event.user_id"


def test_skip_scores_the_valid_rows_and_reports_each_malformed_one(
    rba_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (rba_dir / "rba-head19.csv").read_text().splitlines()
    damaged = (rba_dir / "rba-head2000-spreadsheet-damaged.csv").read_text().splitlines()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([good[0], good[1], damaged[5], good[2]]) + "\n")

    with serving(router()) as address:
        status = main(["replay", str(mixed), "--router", address, "--on-error", "skip",
                       "--json", "--no-progress"])

    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert status == 1
    assert (summary["rows"], summary["decisions"]) == (3, 2)
    assert summary["errors"] == {"MALFORMED": 1}
    assert "skipped line 3: Login Timestamp: '43:59.4'" in captured.err


def test_refuse_scores_nothing_when_one_row_is_malformed(
    rba_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (rba_dir / "rba-head19.csv").read_text().splitlines()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([*good[:5], good[5].replace(",mobile,", ",phone,")]) + "\n")
    fake = FakeRouter()

    with serving(Hosted(router_pb2_grpc, "RouterService", fake)) as address:
        status = main(["replay", str(mixed), "--router", address])

    assert status == 2
    assert fake.received == 0
    explained = [line.split() for line in capsys.readouterr().err.splitlines()]
    assert ["Device", "Type", "1", "rows,", "e.g.", "line", "6:", "'phone'", "is", "not", "one",
            "of"] in [words[:12] for words in explained]


def test_a_stream_that_fails_stops_the_replay_and_counts_what_was_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = generated_file(tmp_path)

    with serving(router(hold=4, abort_after=6,
                                abort_code=grpc.StatusCode.FAILED_PRECONDITION)) as address:
        status = main(["replay", str(source), "--router", address, "--json",
                       "--max-in-flight", "4"])

    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert status == 1
    assert summary["errors"]["FAILED_PRECONDITION"] >= 1
    assert summary["decisions"] + summary["errors"]["FAILED_PRECONDITION"] == summary["rows"]
    assert summary["rows"] < 40
    assert "FAILED_PRECONDITION: audit store unreachable" in summary["stopped"]
    assert "the stream to the router" in captured.err


def replay_all_through(
    fake: FakeRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str], max_in_flight: int
) -> None:
    """Replay 40 rows through `fake`: each must be decided once, in the summary and --out."""
    source = generated_file(tmp_path)
    out = tmp_path / "decisions.jsonl"

    with serving(Hosted(router_pb2_grpc, "RouterService", fake)) as address:
        status = main(["replay", str(source), "--router", address, "--json", "--out", str(out),
                       "--max-in-flight", str(max_in_flight)])

    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert summary["rows"] == summary["decisions"] == 40
    lines = [json.loads(line)["line"] for line in out.read_text().splitlines()]
    assert sorted(lines) == list(range(1, 41))


def test_a_stream_cut_with_unavailable_resumes_at_the_first_row_not_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The router answers 4 at a time and drops the stream at its 6th request (a closed
    connection): the rows sent after the 4th were never answered, and are sent again."""
    fake = FakeRouter(hold=4, abort_after=6)
    replay_all_through(fake, tmp_path, capsys, max_in_flight=4)
    # Only those were sent twice: at most the 4 in flight.
    assert 40 < fake.received <= 40 + 4


def test_a_silent_router_ends_the_replay_after_the_idle_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = generated_file(tmp_path, events=5)

    with serving(router(silent=True)) as address:
        status = main(["replay", str(source), "--router", address, "--json",
                       "--idle-timeout", "0.2"])

    summary = json.loads(capsys.readouterr().out)
    assert status == 1
    assert summary["errors"] == {"DEADLINE_EXCEEDED": 5}
    assert "no reply for 0.2 s with 5 requests waiting" in summary["stopped"]


def test_an_input_that_turns_unreadable_stops_the_replay_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = generated_file(tmp_path, events=3)
    source.write_bytes(source.read_bytes() + b'{"user_id": "\xff"}\n')

    with serving(router()) as address:
        status = main(["replay", str(source), "--router", address, "--on-error", "skip",
                       "--json"])

    summary = json.loads(capsys.readouterr().out)
    assert status == 1
    assert summary["decisions"] == 3
    assert "line 4: not UTF-8" in summary["stopped"]


def test_a_stream_the_router_asks_to_close_is_resumed_on_a_new_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay_all_through(FakeRouter(end_every=7), tmp_path, capsys, max_in_flight=3)


def test_resume_sends_only_the_rows_the_out_file_has_no_decision_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = generated_file(tmp_path)
    out = tmp_path / "decisions.jsonl"
    with serving(router()) as address:
        assert main(["replay", str(source), "--router", address, "--out", str(out)]) == 0
    capsys.readouterr()
    lines = out.read_text().splitlines()
    # Interrupted: 25 lines written, one of them an error, the last one torn.
    failed = json.loads(lines[3]) | {"error": {"code": "UNAVAILABLE", "message": "down"}}
    del failed["decision_id"]
    out.write_text("\n".join([*lines[:3], json.dumps(failed), *lines[4:24], lines[24][:9]]))
    fake = FakeRouter()

    with serving(Hosted(router_pb2_grpc, "RouterService", fake)) as address:
        status = main(["replay", str(source), "--router", address, "--resume", str(out),
                       "--json"])

    captured = capsys.readouterr()
    assert status == 0
    assert "resuming: 23 rows already decided" in captured.err
    assert fake.received == json.loads(captured.out)["decisions"] == 40 - 23
    assert sorted(json.loads(line)["line"] for line in out.read_text().splitlines()) == list(
        range(1, 41)
    )


def test_replay_keeps_at_most_max_in_flight_requests_waiting() -> None:
    rows: list[Row] = list(generated_rows(WorldConfig(users=5, events=30, seed=9)))
    outcomes: list[Outcome] = []
    ahead: list[int] = []

    def pulled() -> Iterator[Row]:
        for sent, row in enumerate(rows):
            ahead.append(sent - len(outcomes))
            yield row

    async def scenario() -> ReplaySummary:
        # The router answers only once 4 requests wait: a client must keep 4 in flight.
        server = RunningServer(router(hold=4), settings())
        await server.start()
        summary = ReplaySummary()
        try:
            async with service_channel(f"127.0.0.1:{server.port}") as channel:
                await replay(router_pb2_grpc.RouterServiceStub(channel), pulled(), summary,
                             outcomes.append, max_in_flight=4)
        finally:
            await server.stop(1.0)
        return summary

    summary = asyncio.run(scenario())

    assert summary.decisions == 30
    # Requests waiting when the next row is pulled: that one makes the 4th.
    assert max(ahead) == 3
    assert sorted(o.line for o in outcomes) == list(range(1, 31))


@pytest.mark.parametrize("per_message", [1, 4])
def test_replay_packs_the_requests_its_window_allows_into_one_message(per_message: int) -> None:
    rows: list[Row] = list(generated_rows(WorldConfig(users=5, events=30, seed=9)))
    fake = FakeRouter(hold=8)

    async def scenario() -> ReplaySummary:
        server = RunningServer(Hosted(router_pb2_grpc, "RouterService", fake), settings())
        await server.start()
        summary = ReplaySummary()
        try:
            async with service_channel(f"127.0.0.1:{server.port}") as channel:
                await replay(router_pb2_grpc.RouterServiceStub(channel), rows, summary,
                             lambda outcome: None, max_in_flight=8, per_message=per_message)
        finally:
            await server.stop(1.0)
        return summary

    assert asyncio.run(scenario()).decisions == 30
    if per_message == 1:
        # One request a message, as a router older than packing reads them.
        assert set(fake.packs) == {0}
    else:
        # The window's first 8 in two full messages, and never more than 4 in one.
        assert fake.packs[:2] == [4, 4]
        assert max(fake.packs) == 4 and sum(fake.packs) == 30


def test_score_prints_the_decision_readably_or_as_json(
    capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["score", "--user", "u1", "--ip", "81.166.1.2", "--country", "SE"]

    with serving(router()) as address:
        assert main([*flags, "--router", address]) == 0
        text = capsys.readouterr().out
        assert main([*flags, "--router", address, "--json"]) == 0
        decision = json.loads(capsys.readouterr().out)

    assert text.startswith("CHALLENGE  risk 0.700  confidence 0.800")
    assert "network    NO_MODEL" in text
    assert decision["action"] == "CHALLENGE"
    assert decision["decision_id"].startswith("d-")


def test_score_shows_a_refused_field_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(router()) as address:
        status = main(["score", "--user", REFUSED_USER, "--ip", "81.166.1.2",
                       "--router", address])

    assert status == 2
    assert "router refused the request: event.user_id: is on the refusal list" in (
        capsys.readouterr().err
    )


def test_an_unreachable_router_is_a_failure_with_a_hint(
    capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["score", "--user", "u1", "--ip", "81.166.1.2", "--router", NOWHERE])

    assert status == 1
    assert f"router at {NOWHERE} is unavailable" in capsys.readouterr().err


@pytest.mark.parametrize("ok", [True, False])
def test_audit_verify_prints_the_verdict_and_exits_1_when_broken(
    ok: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = [] if ok else [audit_pb2.VerifyProblem(
        kind="HASH_MISMATCH", location="segment-3#7", detail="record altered")]
    reply = audit_pb2.VerifyResponse(ok=ok, records_checked=12, segments_checked=3,
                                     problems=problems)

    with serving(Hosted(audit_pb2_grpc, "AuditService", FakeAudit(reply))) as address:
        status = main(["audit", "verify", "--audit-addr", address])

    out = capsys.readouterr().out
    if ok:
        assert (status, out.strip()) == (0, "ok (12 records in 3 segments)")
    else:
        assert status == 1
        assert "NOT OK: 1 problems" in out
        assert "HASH_MISMATCH at segment-3#7: record altered" in out


def test_agent_assess_sends_the_context_and_describe_reports_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = tmp_path / "context.json"
    past = {"event": {"event_id": "p", "user_id": "u1", "ip": "81.166.1.2"}, "risk": 0.1}
    context.write_text(json.dumps({"history": [past, past, past]}))

    with serving(Hosted(agent_pb2_grpc, "AgentService", FakeAgent())) as address:
        assessed = main(["agent", "geo", "--addr", address, "--user", "u1", "--ip", "1.2.3.4",
                         "--country", "SE", "--context-file", str(context), "--json"])
        signal = json.loads(capsys.readouterr().out)
        described = main(["agent", "geo", "--addr", address, "--describe"])
        description = capsys.readouterr().out

    assert (assessed, described) == (0, 0)
    assert signal["risk"] == pytest.approx(0.3)
    assert signal["reasons"] == [{"code": "SEEN", "message": "SE", "weight": 0.0}]
    assert description.startswith("geo  READY  model geo-7")


def test_a_context_file_with_a_bad_field_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = tmp_path / "context.json"
    context.write_text(json.dumps({"histroy": []}))

    status = main(["agent", "geo", "--addr", NOWHERE, "--user", "u1", "--ip", "1.2.3.4",
                   "--context-file", str(context)])

    assert status == 2
    assert "histroy: unknown field" in capsys.readouterr().err
