"""The login generator: seeded and byte-for-byte repeatable, streamed, sorted, realistic enough."""

from __future__ import annotations

import io
import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_cli.cmd_generate import write_jsonl, write_rba
from aegis_cli.generator import GeneratorConfig, generate
from aegis_cli.readers import read_events
from aegis_cli.rows import Labels, ParsedRow

CONFIG = GeneratorConfig(users=60, events=1500, seed=11)


def jsonl(config: GeneratorConfig) -> str:
    out = io.StringIO()
    write_jsonl(generate(config), out)
    return out.getvalue()


def rba_csv(config: GeneratorConfig) -> str:
    out = io.StringIO()
    write_rba(generate(config), out)
    return out.getvalue()


def test_the_same_seed_gives_the_same_bytes() -> None:
    assert jsonl(CONFIG) == jsonl(CONFIG)
    assert rba_csv(CONFIG) == rba_csv(CONFIG)


def test_another_seed_gives_other_logins() -> None:
    other = GeneratorConfig(users=CONFIG.users, events=CONFIG.events, seed=CONFIG.seed + 1)
    assert jsonl(other) != jsonl(CONFIG)


def test_exactly_the_number_asked_for_in_time_order() -> None:
    logins = list(generate(CONFIG))

    assert len(logins) == CONFIG.events
    times = [g.event.timestamp.ToMilliseconds() for g in logins]
    assert times == sorted(times)
    assert times[0] >= CONFIG.start_ms
    assert len({g.event.event_id for g in logins}) == CONFIG.events


def test_logins_stream_without_generating_them_all_first() -> None:
    # A billion events: only a lazy generator can hand out the first ones.
    huge = GeneratorConfig(users=50, events=10**9, seed=3)

    first = list(itertools.islice(generate(huge), 200))

    assert len(first) == 200


def test_users_have_habits_and_a_few_percent_are_attacks() -> None:
    logins = list(generate(CONFIG))
    benign = [g.event for g in logins if g.labels == Labels(False, False)]

    countries: defaultdict[str, Counter[str]] = defaultdict(Counter)
    devices: defaultdict[str, set[str]] = defaultdict(set)
    for event in benign:
        countries[event.user_id][event.country] += 1
        devices[event.user_id].add(event.device_id)
    # Most of a user's own logins come from one country (home), on one to three devices.
    home_share = sum(c.most_common(1)[0][1] for c in countries.values()) / len(benign)
    assert home_share > 0.85
    assert max(len(d) for d in devices.values()) <= 3

    stuffing = [g for g in logins if g.labels.is_attack_ip]
    takeovers = [g for g in logins if g.labels.is_account_takeover]
    assert 0.01 <= (len(stuffing) + len(takeovers)) / len(logins) <= 0.06
    # Credential stuffing: few IPs, many accounts, nearly all failing.
    assert len({g.event.ip for g in stuffing}) <= len(stuffing) / 5
    assert len({g.event.user_id for g in stuffing}) > len(stuffing) / 2
    assert sum(not g.event.login_successful for g in stuffing) >= 0.9 * len(stuffing)
    assert takeovers, "some targeted account takeovers"


def test_a_takeover_comes_from_a_new_device_in_another_country() -> None:
    logins = list(generate(CONFIG))
    seen: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
    for g in logins:
        if g.labels.is_account_takeover and not g.labels.is_attack_ip:
            devices = {device for device, _ in seen[g.event.user_id]}
            countries = {country for _, country in seen[g.event.user_id]}
            assert g.event.device_id not in devices
            assert g.event.country not in countries
        elif not g.labels.is_attack_ip:
            seen[g.event.user_id].add((g.event.device_id, g.event.country))


@pytest.mark.parametrize("fmt", ["jsonl", "rba"])
def test_the_output_reads_back_valid_with_its_labels(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"logins.{fmt}"
    path.write_text(jsonl(CONFIG) if fmt == "jsonl" else rba_csv(CONFIG), encoding="utf-8")
    expected = list(generate(CONFIG))

    rows = list(read_events(path, fmt))

    assert all(isinstance(r, ParsedRow) for r in rows), [str(r) for r in rows[:3]]
    assert [r.labels for r in rows if isinstance(r, ParsedRow)] == [g.labels for g in expected]
    if fmt == "jsonl":
        assert [r.event for r in rows if isinstance(r, ParsedRow)] == [g.event for g in expected]
    else:
        first = rows[0]
        assert isinstance(first, ParsedRow)
        assert first.event.user_id == expected[0].event.user_id
        assert first.event.timestamp == expected[0].event.timestamp


def test_a_later_start_moves_the_logins_and_nothing_else() -> None:
    later = GeneratorConfig(users=10, events=50, seed=2, start=datetime(2025, 6, 1, tzinfo=UTC))
    earlier = GeneratorConfig(users=10, events=50, seed=2)
    shift = later.start_ms - earlier.start_ms

    pairs = list(zip(generate(later), generate(earlier), strict=True))

    assert all(
        a.event.timestamp.ToMilliseconds() - b.event.timestamp.ToMilliseconds() == shift
        and a.event.user_id == b.event.user_id
        for a, b in pairs
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"users": 0}, {"events": -1}, {"days": 0}, {"attack_share": 0.9},
     {"start": datetime(2024, 1, 1)}],
)
def test_a_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"users": 5, "events": 5, "seed": 1} | kwargs
    with pytest.raises(ValueError):
        GeneratorConfig(**settings)  # type: ignore[arg-type]


def test_no_events_means_no_output() -> None:
    assert list(generate(GeneratorConfig(users=3, events=0, seed=1))) == []


def test_device_types_follow_the_user_agents() -> None:
    logins = list(generate(CONFIG))
    for g in logins:
        if "iPhone" in g.event.user_agent or "Pixel" in g.event.user_agent:
            assert g.event.device_type == pb.DEVICE_TYPE_MOBILE
