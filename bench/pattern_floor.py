"""The floor of the design's message pattern: what a Score's messages cost with nothing of ours.

Bare grpc.aio servers on uvloop, each in its own process, speak opaque bytes (no interceptors,
no protobuf parsing, no work): an "audit" with two bidi-stream methods (context, record), four
"agents" with one each. A bare router's unary Score (RouterService/Score, so that the project's
bench.loadgen drives it) sends what the router sends for a login: one context message (its
answer is a context of the real size), the same four agent messages at once (each carrying that
context, as an AssessRequest does), one record message, then replies with a fixed decision.
Messages travel on one long-lived stream per method, as the router's lanes do.

Three ways to send: `plain`, one stream message per Score and hop; `batched`, the router's own
Batcher (router_service.batching, its default limits) gathers concurrent Scores into one message
per hop; `hosted`, as plain but one message to an agent host (one process) carries the login to
every agent and one answers for them all (agent_services' hosts). Each rate step charges
every process its CPU per Score (bench.cpu, from the step's start to its end), so the table
reads against the mesh's figures in docs/benchmarks.md. The servers start with the services'
gRPC core settings (aegis_runtime.grpc_core) unless the environment sets its own.

    .venv/bin/python -m bench.pattern_floor [--rates 20,100,300] [--ladder 500,700,1000,1500]
        [--duration 15] [--modes plain,batched,hosted] [--out floor.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import uvloop

from aegis_domain.registry import default_registry
from aegis_runtime.grpc_core import with_grpc_core_defaults
from bench.ceiling import healthy_reply
from router_service.batching import Batcher, BatchLimits

_SERVICE = "/bench.floor.Floor/"
CONTEXT, RECORD, ASSESS = _SERVICE + "Context", _SERVICE + "Record", _SERVICE + "Assess"
# An agent host's method: one message carries a login to every agent, one answers for all.
HOST = _SERVICE + "AssessHost"
SCORE = "/aegis.v1.RouterService/Score"
AGENTS = [agent.name for agent in default_registry().agents]
# A message: its id and how many items it carries, then the items; its answer: the id, then
# one answer of the method's fixed size per item.
_HEAD = struct.Struct("<QI")
# What the router's messages weigh for a login with a full history (bench.history): the
# context is most of every GetContext answer and of every AssessRequest.
SIZES = {"context": 17_000, "event": 400, "signal": 200, "record": 1_500, "ack": 100}
# The budget a Batcher item gets: generous, as nothing here misses a deadline on purpose.
_BUDGET_S = 5.0


def _answers(method: str) -> bytes:
    if method == HOST:
        return b"\0" * SIZES["signal"] * len(AGENTS)
    return b"\0" * SIZES[{CONTEXT: "context", RECORD: "ack", ASSESS: "signal"}[method]]


def _stream_handler(answer: bytes) -> grpc.RpcMethodHandler:
    async def handle(
        messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for message in messages:
            _, count = _HEAD.unpack_from(message)
            yield message[:_HEAD.size] + answer * count

    return grpc.stream_stream_rpc_method_handler(handle)


class Stream:
    """One long-lived stream to a method: messages out, answers matched back by id."""

    def __init__(self, channel: grpc.aio.Channel, method: str) -> None:
        # The call writes what the queue yields, in a task of grpc.aio's own: a Score
        # cancelled past its deadline cannot cancel a write, which would end the stream.
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._call = channel.stream_stream(method)(self._messages())
        self._answer_size = len(_answers(method))
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._ids = 0
        self._reader = asyncio.create_task(self._read())
        self.messages = self.items = 0

    async def _messages(self) -> AsyncIterator[bytes]:
        while True:
            yield await self._outbox.get()

    async def _read(self) -> None:
        async for answer in self._call:
            message_id, = struct.unpack_from("<Q", answer)
            answered = self._pending.pop(message_id)
            if not answered.done():  # its Score may have been cancelled past its deadline
                answered.set_result(answer)

    async def send(self, items: Sequence[bytes]) -> list[bytes]:
        """The answers to `items`, sent as one message."""
        self._ids += 1
        self.messages += 1
        self.items += len(items)
        answered = self._pending[self._ids] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait(_HEAD.pack(self._ids, len(items)) + b"".join(items))
        answer = await answered
        size = self._answer_size
        return [answer[_HEAD.size + i * size:_HEAD.size + (i + 1) * size]
                for i in range(len(items))]


class Router:
    """The bare router: a Score's messages, one per hop (`batcher` None) or gathered by the
    router's Batcher; `hosted`, one message to an agent host (`agents`: its one address)
    in place of four."""

    def __init__(self, audit: str, agents: Sequence[str], batched: bool, hosted: bool) -> None:
        audit_channel = grpc.aio.insecure_channel(audit)
        self.channels = [audit_channel]
        self.streams = {"context": Stream(audit_channel, CONTEXT),
                        "record": Stream(audit_channel, RECORD)}
        self.hosted = hosted
        for name, address in zip(["host"] if hosted else AGENTS, agents, strict=True):
            self.channels.append(grpc.aio.insecure_channel(address))
            self.streams[name] = Stream(self.channels[-1], HOST if hosted else ASSESS)
        self.batchers = {
            name: Batcher(self._sender(stream), BatchLimits())
            for name, stream in self.streams.items()
        } if batched else None
        self.event = b"\1" * SIZES["event"]
        self.record = b"\2" * SIZES["record"]
        self.reply = healthy_reply(AGENTS).SerializeToString()

    @staticmethod
    def _sender(stream: Stream) -> Any:
        async def send(items: Sequence[bytes], timeout_s: float) -> list[bytes]:
            return await stream.send(items)
        return send

    async def _hop(self, name: str, item: bytes) -> bytes:
        if self.batchers is None:
            return (await self.streams[name].send([item]))[0]
        return (await self.batchers[name].submit(item, _BUDGET_S)).result

    async def score(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        login_context = await self._hop("context", self.event)
        assess = self.event + login_context
        if self.hosted:
            await self._hop("host", assess)
        else:
            await asyncio.gather(*(self._hop(name, assess) for name in AGENTS))
        await self._hop("record", self.record)
        return self.reply

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()

    async def stats(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """Items a message on each hop so far."""
        return json.dumps({
            name: round(stream.items / max(stream.messages, 1), 2)
            for name, stream in self.streams.items()
        }).encode()


@dataclass
class Bare:
    """A started bare server, its port, and the router it serves, if it is one."""

    server: grpc.aio.Server
    port: int
    router: Router | None = None

    async def stop(self) -> None:
        await self.server.stop(None)
        if self.router is not None:
            await self.router.close()


async def start_server(role: str, audit: str = "", agents: Sequence[str] = ()) -> Bare:
    """A started bare server in `role`: audit, agent, or a router (plain or batched) toward
    `audit` and `agents`."""
    server = grpc.aio.server()
    router = None
    handlers: dict[str, grpc.RpcMethodHandler]
    if role == "audit":
        handlers = {name.rsplit("/", 1)[1]: _stream_handler(_answers(name))
                    for name in (CONTEXT, RECORD)}
        service = _SERVICE.strip("/")
    elif role in ("agent", "host"):
        method = ASSESS if role == "agent" else HOST
        handlers = {method.rsplit("/", 1)[1]: _stream_handler(_answers(method))}
        service = _SERVICE.strip("/")
    else:
        router = Router(audit, agents, batched=role == "batched", hosted=role == "hosted")
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            _SERVICE.strip("/"), {"Stats": grpc.unary_unary_rpc_method_handler(router.stats)},
        )])
        handlers = {"Score": grpc.unary_unary_rpc_method_handler(router.score)}
        service = SCORE.strip("/").rsplit("/", 1)[0]
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return Bare(server, port, router)


async def _serve(role: str, audit: str, agents: Sequence[str]) -> None:
    bare = await start_server(role, audit, agents)
    print(bare.port, flush=True)
    await bare.server.wait_for_termination()


async def items_per_message(address: str) -> dict[str, float]:
    """A bare router's items a message so far, by hop."""
    async with grpc.aio.insecure_channel(address) as channel:
        return json.loads(await channel.unary_unary(_SERVICE + "Stats")(b""))  # type: ignore[no-any-return]


def _start(role: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.pattern_floor", "--serve", role, *args],
        stdout=subprocess.PIPE, text=True, env=with_grpc_core_defaults(os.environ),
    )
    port = process.stdout.readline().strip()  # type: ignore[union-attr]
    if not port:
        raise RuntimeError(f"the {role} server did not start")
    return process, f"127.0.0.1:{port}"


def measure(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """The load generator's steps against one bare mesh in `mode`, and its batch sizes."""
    processes = []
    try:
        audit, audit_address = _start("audit")
        processes.append(audit)
        pids = {"audit": audit.pid}
        agent_addresses = []
        for name in ["host"] if mode == "hosted" else AGENTS:
            agent, address = _start("host" if mode == "hosted" else "agent")
            processes.append(agent)
            pids[name] = agent.pid
            agent_addresses.append(address)
        router, router_address = _start(mode, "--audit", audit_address,
                                        "--agents", ",".join(agent_addresses))
        processes.append(router)
        pids["router"] = router.pid
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "steps.json"
            subprocess.run(
                [sys.executable, "-m", "bench.loadgen", "--target", router_address,
                 "--rates", ",".join(f"{rate:g}" for rate in args.rates + args.ladder),
                 "--duration", str(args.duration), "--stop-when-saturated",
                 "--max-p99-ms", "50", "--measure-through", str(max(args.rates)),
                 "--cpu-pids", ",".join(f"{name}={pid}" for name, pid in pids.items()),
                 "--out", str(out)],
                check=True,
            )
            steps = json.loads(out.read_text())
        batch = asyncio.run(items_per_message(router_address))
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return {"mode": mode, "items_per_message": batch, "steps": steps}


def _table(results: list[dict[str, Any]]) -> str:
    lines = ["| mode | offered/s | achieved/s | errors | p50 / p99 ms | CPU ms a Score: router "
             "/ audit / agents (the four, or their host) = total | load generator |",
             "|---" * 7 + "|"]
    for result in results:
        for step in result["steps"]:
            cpu = step["cpu_ms_per_score"]
            latency = step["latency_ms"]
            agents = sum(cpu.get(name, 0.0) for name in [*AGENTS, "host"])
            lines.append(
                f"| {result['mode']} | {step['rate']:g} | {step['throughput_per_s']} | "
                f"{step['error_share']:.1%} | {latency['p50']} / {latency['p99']} | "
                f"{cpu['router']:.2f} / {cpu['audit']:.2f} / {agents:.2f} = {cpu['total']:.2f} | "
                f"{cpu['loadgen']:.2f} |"
            )
        lines.append(f"| {result['mode']} | items a message over the run: "
                     + ", ".join(f"{k} {v}" for k, v in result["items_per_message"].items())
                     + " |||||||")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    rates = lambda text: [float(rate) for rate in text.split(",") if rate]  # noqa: E731
    parser.add_argument("--rates", type=rates, default=[20.0, 100.0, 300.0],
                        help="rates measured whatever happens (Score/s)")
    parser.add_argument("--ladder", type=rates, default=[500.0, 700.0, 1000.0, 1500.0],
                        help="higher rates, until one fails calls or its p99 passes 50 ms")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds a rate")
    parser.add_argument("--modes", default="plain,batched,hosted",
                        help="plain, batched (the router's Batcher), hosted (one agent host)")
    parser.add_argument("--out", type=Path, help="every step's JSON")
    parser.add_argument("--serve", choices=["audit", "agent", "host", "plain", "batched", "hosted"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--audit", help=argparse.SUPPRESS)
    parser.add_argument("--agents", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(args.serve, args.audit, (args.agents or "").split(",")))
        return 0
    results = [measure(mode, args) for mode in args.modes.split(",")]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
