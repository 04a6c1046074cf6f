"""The CPU of a record's encoding on the audit's Record path, per record, trees in turn.

    python -m bench.record_encoding --audit-data STATE/audit-data [--tree ../before --tree .]
        [--records 300] [--rounds 3]

Reads the newest `records` decisions that carry a served history from the audit data of a
cluster that served load (bench.loadgen: four agents' signals, the served context), and in a
child process per tree (that tree first on its path) times, per record, the best of five passes:
validate_record_request, indexed_entry, message_to_dict and canonical_json of the record
without its context, and canonical_record given the context's bytes (as a record naming its
served context has them). Prints µs of CPU per record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.in_tree import add_tree_options, each_tree, in_child


def child_run(audit_data: Path, count: int) -> dict[str, float]:
    from aegis.v1 import audit_pb2, common_pb2
    from audit_service.index_rows import indexed_entry
    from audit_service.log.chain import canonical_json, canonical_record, decode_line
    from audit_service.log.record_json import message_to_dict
    from audit_service.validation import validate_record_request

    records: list[common_pb2.DecisionRecord] = []
    for segment in sorted((audit_data / "audit").rglob("*.jsonl"), reverse=True):
        for line in reversed(segment.read_bytes().split(b"\n")[:-1]):
            record = decode_line(line).record()
            # A served history (a decision without context carries an empty one).
            if record.context.ByteSize() >= 1024:
                records.append(record)
            if len(records) == count:
                break
        if len(records) == count:
            break
    contexts = [r.context.SerializeToString(deterministic=True) for r in records]
    for record in records:
        record.ClearField("context")
    requests = [audit_pb2.RecordRequest(record=r, context_ref=b"r" * 16) for r in records]
    bodies = [message_to_dict(r, skip="context") for r in records]

    def best(work: Callable[[int], Any]) -> float:
        fastest = float("inf")
        for _ in range(5):
            started = time.process_time()
            for at in range(len(records)):
                work(at)
            fastest = min(fastest, time.process_time() - started)
        return round(fastest / len(records) * 1e6, 1)

    return {
        "validate_record_request": best(lambda at: validate_record_request(requests[at])),
        "indexed_entry": best(lambda at: indexed_entry(records[at])),
        "message_to_dict": best(lambda at: message_to_dict(records[at], skip="context")),
        "canonical_json": best(lambda at: canonical_json(bodies[at])),
        "canonical_record": best(lambda at: canonical_record(records[at], contexts[at])),
        "context_bytes": round(sum(map(len, contexts)) / len(contexts)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit-data", type=Path, required=True,
                        help="a cluster's audit data after load (STATE/audit-data)")
    parser.add_argument("--records", type=int, default=300)
    add_tree_options(parser, rounds=3)
    args = parser.parse_args(argv)
    if in_child(args):
        print(json.dumps(child_run(args.audit_data, args.records)))
        return 0
    child_args = ["--audit-data", str(args.audit_data.resolve()), "--records", str(args.records)]
    for round_number, tree, row in each_tree("bench.record_encoding", args, child_args):
        print(f"{tree.name:<14} round {round_number}  "
              + "  ".join(f"{name} {value}" for name, value in row.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
