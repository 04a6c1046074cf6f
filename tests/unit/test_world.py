"""The login world: seeded and repeatable, streamed, sorted; habits, hard cases and campaigns
shaped as described, with the truth kept out of the events."""

from __future__ import annotations

import io
import ipaddress
import itertools
import json
import re
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_cli.cmd_generate import write_jsonl, write_rba
from aegis_cli.main import main
from aegis_cli.readers import read_events
from aegis_domain.geo_data import haversine_km, load_hosting_asns
from aegis_lab.world import ATTACK_TYPES, HARD_CASES, WorldConfig, generate, parse_attack_mix
from aegis_lab.world.knobs import Knobs
from aegis_lab.world.people import profile
from aegis_lab.world.places import COUNTRIES, unlisted_vpn
from aegis_lab.world.rows import labels
from aegis_lab.world.truth import (
    CREDENTIAL_STUFFING,
    FRAUD_RING,
    LOW_AND_SLOW,
    SESSION_HIJACK,
    SHARED_DEVICE,
    TARGETED_TAKEOVER,
    TRAVEL,
    VPN,
)
from router_service.client.rows import ParsedRow

CONFIG = WorldConfig(users=300, events=12_000, seed=11)


@pytest.fixture(scope="module")
def world() -> list:
    return list(generate(CONFIG))


def jsonl(config: WorldConfig) -> str:
    out = io.StringIO()
    write_jsonl(generate(config), out)
    return out.getvalue()


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_ones() -> None:
    small = WorldConfig(users=40, events=800, seed=3)
    assert jsonl(small) == jsonl(small)
    assert jsonl(WorldConfig(users=40, events=800, seed=4)) != jsonl(small)


def test_exactly_the_number_asked_for_in_time_order(world: list) -> None:
    assert len(world) == CONFIG.events
    times = [g.event.timestamp.ToMilliseconds() for g in world]
    assert times == sorted(times)
    assert times[0] >= CONFIG.start_ms
    # The world fills about the span it was asked for.
    assert times[-1] - CONFIG.start_ms == pytest.approx(CONFIG.span_ms, rel=0.25)
    assert len({g.event.event_id for g in world}) == CONFIG.events


def test_the_world_streams_in_memory_that_does_not_grow_with_its_length() -> None:
    def peak(events: int) -> int:
        tracemalloc.start()
        for _ in generate(WorldConfig(users=100, events=events, seed=5, days=events / 100)):
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    # Ten times the events (over ten times the days) from the same people.
    assert peak(30_000) < 1.5 * peak(3_000)
    # A billion events: only a lazy generator hands out the first ones at once.
    first = list(itertools.islice(generate(WorldConfig(users=50, events=10**9, seed=3)), 200))
    assert len(first) == 200


def test_every_attack_type_and_hard_case_occurs_at_about_the_share_asked(world: list) -> None:
    attacks = Counter(g.truth.attack for g in world if g.truth.attack)
    assert set(attacks) == set(ATTACK_TYPES)
    assert 0.02 <= sum(attacks.values()) / len(world) <= 0.045
    cases = Counter(g.truth.hard_case for g in world if g.truth.hard_case)
    assert set(cases) == set(HARD_CASES)
    # Truth is either an attack with its campaign or a legitimate login, never both.
    for g in world:
        assert bool(g.truth.attack) == bool(g.truth.campaign)
        assert not (g.truth.attack and g.truth.hard_case)


def test_an_attack_mix_decides_which_campaigns_run() -> None:
    config = WorldConfig(users=100, events=5_000, seed=2, attack_share=0.05,
                         attack_mix=parse_attack_mix("low_and_slow=1, session_hijack=1"))
    attacks = Counter(g.truth.attack for g in generate(config) if g.truth.attack)
    assert set(attacks) == {LOW_AND_SLOW, SESSION_HIJACK}
    with pytest.raises(ValueError, match="unknown attack types phishing"):
        WorldConfig(users=1, events=1, seed=1, attack_mix={"phishing": 1.0})


def test_people_have_a_home_country_and_few_devices(world: list) -> None:
    countries: defaultdict[str, Counter[str]] = defaultdict(Counter)
    devices: defaultdict[str, set[str]] = defaultdict(set)
    own = [g.event for g in world if not g.truth.attack]
    for event in own:
        countries[event.user_id][event.country] += 1
        devices[event.user_id].add(event.device_id)
    home_share = sum(c.most_common(1)[0][1] for c in countries.values()) / len(own)
    assert home_share > 0.85
    assert sorted(len(d) for d in devices.values())[len(devices) // 2] <= 3


def test_stuffing_hits_many_accounts_and_nearly_always_fails(world: list) -> None:
    stuffing = [g.event for g in world if g.truth.attack == CREDENTIAL_STUFFING]
    assert len({e.user_id for e in stuffing}) > len(stuffing) / 2
    assert sum(not e.login_successful for e in stuffing) >= 0.9 * len(stuffing)


def test_a_hijacked_session_reuses_the_victims_device_from_impossibly_far(world: list) -> None:
    last_own: dict[str, pb.LoginEvent] = {}
    checked = 0
    for g in world:
        event = g.event
        if g.truth.attack == SESSION_HIJACK and event.user_id in last_own:
            before = last_own[event.user_id]
            if before.device_id != event.device_id:
                continue  # the victim logged in from another device in between
            km = haversine_km(before.latitude, before.longitude, event.latitude, event.longitude)
            hours = (event.timestamp.ToMilliseconds() - before.timestamp.ToMilliseconds()) / 3.6e6
            assert km / max(hours, 1 / 60) > 1000, (km, hours)
            checked += 1
        elif not g.truth.attack and event.login_successful:
            last_own[event.user_id] = event
    assert checked > 0


def test_a_fraud_ring_shares_its_devices_across_accounts(world: list) -> None:
    accounts: defaultdict[str, set[str]] = defaultdict(set)
    for g in world:
        if g.truth.attack == FRAUD_RING:
            accounts[g.event.device_id].add(g.event.user_id)
    assert max(len(users) for users in accounts.values()) >= 3


def test_takeovers_come_from_a_device_the_victim_never_used(world: list) -> None:
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for g in world:
        if g.truth.attack in (TARGETED_TAKEOVER, LOW_AND_SLOW):
            assert g.event.device_id not in seen[g.event.user_id]
        elif not g.truth.attack:
            seen[g.event.user_id].add(g.event.device_id)


def test_low_and_slow_imitates_the_victims_place_network_and_browser(world: list) -> None:
    own: defaultdict[str, list[pb.LoginEvent]] = defaultdict(list)
    for g in world:
        if not g.truth.attack:
            own[g.event.user_id].append(g.event)
    imitations = [g.event for g in world if g.truth.attack == LOW_AND_SLOW]
    assert imitations
    for event in imitations:
        agents = {e.user_agent for e in own[event.user_id]}
        asns = {e.asn for e in own[event.user_id]}
        assert event.user_agent in agents and event.asn in asns


def test_hard_cases_are_what_they_claim(world: list) -> None:
    by_case: defaultdict[str, list[pb.LoginEvent]] = defaultdict(list)
    for g in world:
        by_case[g.truth.hard_case].append(g.event)
    users_of_device: defaultdict[str, set[str]] = defaultdict(set)
    for g in world:
        if not g.truth.attack:
            users_of_device[g.event.device_id].add(g.event.user_id)
    shared = by_case[SHARED_DEVICE]
    assert sum(len(users_of_device[e.device_id]) >= 2 for e in shared) >= 0.9 * len(shared)
    home = {e.user_id: e.country for e in reversed(by_case[""])}
    travel = by_case[TRAVEL]
    assert sum(e.country != home.get(e.user_id) for e in travel) >= 0.3 * len(travel)


@pytest.mark.parametrize("fmt", ["jsonl", "rba"])
def test_the_output_reads_back_valid_with_its_labels(tmp_path: Path, fmt: str) -> None:
    config = WorldConfig(users=30, events=600, seed=8)
    out = io.StringIO()
    (write_jsonl if fmt == "jsonl" else write_rba)(generate(config), out)
    path = tmp_path / f"logins.{fmt}"
    path.write_text(out.getvalue(), encoding="utf-8")
    expected = list(generate(config))

    rows = list(read_events(path, fmt))

    assert all(isinstance(r, ParsedRow) for r in rows), [str(r) for r in rows[:3]]
    assert [r.labels for r in rows if isinstance(r, ParsedRow)] == [labels(g) for g in expected]
    assert any(labels(g).is_attack_ip for g in expected)
    if fmt == "jsonl":
        assert [r.event for r in rows if isinstance(r, ParsedRow)] == [g.event for g in expected]


def test_generate_writes_the_full_truth_beside_the_events(tmp_path: Path) -> None:
    events, truth = tmp_path / "w.jsonl", tmp_path / "w.truth.jsonl"
    argv = ["generate", "--users", "20", "--events", "400", "--seed", "6",
            "--out", str(events), "--truth", str(truth)]
    assert main(argv) == 0

    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    expected = list(generate(WorldConfig(users=20, events=400, seed=6)))
    assert [line["event_id"] for line in lines] == [g.event.event_id for g in expected]
    assert [line["attack"] for line in lines] == [g.truth.attack for g in expected]
    # The events themselves carry no truth beyond the RBA labels beside them.
    fields = {f.name for f in pb.LoginEvent.DESCRIPTOR.fields}
    for line in events.read_text().splitlines():
        obj = json.loads(line)
        assert set(obj.pop("labels")) == {"is_attack_ip", "is_account_takeover"}
        assert set(obj) <= fields


def test_a_later_start_moves_the_logins_and_nothing_else() -> None:
    later = WorldConfig(users=10, events=60, seed=2, start=datetime(2025, 6, 1, tzinfo=UTC))
    earlier = WorldConfig(users=10, events=60, seed=2)
    shift = later.start_ms - earlier.start_ms

    for a, b in zip(generate(later), generate(earlier), strict=True):
        assert a.event.timestamp.ToMilliseconds() - b.event.timestamp.ToMilliseconds() == shift
        assert (a.event.user_id, a.truth) == (b.event.user_id, b.truth)


@pytest.mark.parametrize(
    "kwargs",
    [{"users": 0}, {"events": -1}, {"days": 0}, {"attack_share": 0.9},
     {"start": datetime(2024, 1, 1)}, {"attack_mix": {"low_and_slow": -1.0}}],
)
def test_a_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"users": 5, "events": 5, "seed": 1} | kwargs
    with pytest.raises(ValueError):
        WorldConfig(**settings)  # type: ignore[arg-type]


def test_no_events_means_no_output() -> None:
    assert list(generate(WorldConfig(users=3, events=0, seed=1))) == []


def test_device_types_follow_the_user_agents(world: list) -> None:
    for g in world:
        if "iPhone" in g.event.user_agent or "Pixel" in g.event.user_agent:
            assert g.event.device_type == pb.DEVICE_TYPE_MOBILE
        if g.event.user_agent.startswith("python-requests"):
            assert g.event.device_type == pb.DEVICE_TYPE_BOT


def test_an_event_id_names_one_login_across_worlds_of_one_seed() -> None:
    """One seed's n-th login differs between a small and a large world: ids come from the
    content, so the two worlds share an id only for the very same login."""
    small = {g.event.event_id: g.event for g in generate(WorldConfig(users=20, events=200,
                                                                      seed=3))}
    large = {g.event.event_id: g.event for g in generate(WorldConfig(users=40, events=400,
                                                                      seed=3))}
    assert all(large[i] == small[i] for i in small.keys() & large.keys())


def test_a_randomised_world_draws_its_own_habits_and_shares_more() -> None:
    """Domain randomisation: each training world's rates are its own, so a model cannot learn
    one set of them; the default world keeps the defaults."""
    assert WorldConfig(users=10, events=0, seed=1).knobs == Knobs()
    drawn = [WorldConfig(users=10, events=0, seed=s, randomised=True).knobs for s in range(20)]
    assert len(set(drawn)) == 20
    assert max(k.users_per_company for k in drawn) > 5 * Knobs().users_per_company
    assert min(k.carrier_pool_bits for k in drawn) < Knobs().carrier_pool_bits


def test_a_randomised_world_shares_carrier_addresses_among_more_users() -> None:
    def users_per_carrier_address(config: WorldConfig) -> float:
        users: defaultdict[str, set[str]] = defaultdict(set)
        for login in generate(config):
            if login.event.asn in {c.mobile.asn for c in COUNTRIES}:
                users[login.event.ip].add(login.event.user_id)
        return sum(len(u) for u in users.values()) / len(users)

    seed = next(s for s in range(100) if Knobs.drawn(s).carrier_pool_bits == 4)
    base = WorldConfig(users=200, events=4_000, seed=seed)
    assert users_per_carrier_address(replace(base, randomised=True)) > 3 * (
        users_per_carrier_address(base))


def test_a_randomised_world_has_bare_users_with_the_rba_columns_only() -> None:
    """Domain randomisation of the fields: a share of a randomised world's users (and the
    attacks on them) log in as the RBA dataset's logins do, without device id, session,
    coordinates, auth method or failure count; each user's logins are all bare or all full.
    The default world has none."""
    config = WorldConfig(users=200, events=4_000, seed=5, attack_share=0.05)
    assert not any(_bare(login.event) for login in generate(config))
    bare_by_user: defaultdict[str, set[bool]] = defaultdict(set)
    for login in generate(replace(config, randomised=True)):
        bare_by_user[login.event.user_id].add(_bare(login.event))
        if _bare(login.event):
            assert login.event.user_agent and login.event.country and login.event.ip
            assert not login.event.session_id and not login.event.HasField("longitude")
            assert login.event.failed_attempts_before == 0
    assert all(len(kinds) == 1 for kinds in bare_by_user.values())
    share = sum(kinds == {True} for kinds in bare_by_user.values()) / len(bare_by_user)
    assert abs(share - Knobs.drawn(5).bare_share) < 0.15


def _bare(event: pb.LoginEvent) -> bool:
    return not event.device_id and not event.HasField("latitude") and not event.auth_method


def test_some_vpn_users_of_a_randomised_world_start_later_on_their_own_devices() -> None:
    """A first VPN exit after weeks without one is a hard case that training must see."""
    config = WorldConfig(users=300, events=6_000, seed=5)
    assert not any(profile(config, i).vpn_from_day for i in range(config.users))
    randomised = replace(config, randomised=True)
    late = {p.user_id: p for i in range(config.users)
            if (p := profile(randomised, i)).vpn_share and p.vpn_from_day}
    assert late
    first_vpn: dict[str, float] = {}
    for login in generate(randomised):
        user = login.event.user_id
        if user in late and login.truth.hard_case == VPN and user not in first_vpn:
            first_vpn[user] = login.event.timestamp.seconds
    assert first_vpn
    for user, at in first_vpn.items():
        assert at >= randomised.start.timestamp() + late[user].vpn_from_day * 86_400 - 86_400


def test_browsers_of_a_randomised_world_update_and_its_patient_attackers_copy_near() -> None:
    """Domain randomisation of the user agent: in a randomised world some devices update
    their browser (the same fingerprint, a new version in its string: benign novelty), and
    some attackers who know their victim send the victim's string one number off rather than
    an exact copy. The default world has neither."""

    def changes(config: WorldConfig) -> tuple[int, int]:
        agents: defaultdict[str, set[str]] = defaultdict(set)
        own: defaultdict[str, set[str]] = defaultdict(set)
        near = 0
        for login in generate(config):
            event = login.event
            if not login.truth.attack:
                agents[event.device_id].add(event.user_agent)
                own[event.user_id].add(event.user_agent)
            elif login.truth.attack == LOW_AND_SLOW:
                near += event.user_agent not in own[event.user_id] and any(
                    _one_number_off(event.user_agent, agent) for agent in own[event.user_id])
        return sum(len(seen) > 1 for device, seen in agents.items() if device), near

    config = WorldConfig(users=200, events=8_000, seed=5, attack_share=0.1,
                         attack_mix={LOW_AND_SLOW: 1.0})
    assert changes(config) == (0, 0)
    updated_devices, near_copies = changes(replace(config, randomised=True))
    assert updated_devices > 0 and near_copies > 0


def _one_number_off(a: str, b: str) -> bool:
    numbers = re.compile(r"\d+")
    if numbers.sub("#", a) != numbers.sub("#", b):
        return False
    return sum(x != y for x, y in zip(numbers.findall(a), numbers.findall(b), strict=True)) == 1


def test_a_randomised_world_has_a_vpn_in_no_hosting_list_that_attackers_use_too() -> None:
    """A commercial VPN is known by its exits' spread over countries, not by a list: the
    world's own provider serves benign users from several countries, and attacks come
    through it too, so that the spread is no free pass. The default world has none."""
    hosting = load_hosting_asns()
    config = WorldConfig(users=600, events=15_000, seed=7, randomised=True)
    exits = unlisted_vpn(config.seed)
    assert exits[0].asn not in hosting and len({e.city.country for e in exits}) >= 2
    through = Counter(g.truth.attack or "benign" for g in generate(config)
                      if g.event.asn == exits[0].asn)
    assert through["benign"] > 100
    assert through.total() > through["benign"]
    assert not any(g.event.asn == exits[0].asn
                   for g in generate(replace(config, randomised=False)))


def test_vpn_users_of_a_randomised_world_roam_over_their_providers_exits() -> None:
    """A VPN app picks another server now and then: a first login from that exit's country,
    through a network seen from many; the default world's users keep to their own exits."""

    def roamed(config: WorldConfig) -> int:
        people = {p.user_id: p for p in (profile(config, i) for i in range(config.users))}
        outside = 0
        for g in generate(config):
            person = people.get(g.event.user_id)
            if g.truth.attack or person is None or g.truth.hard_case != VPN:
                continue
            address = ipaddress.ip_address(g.event.ip)
            outside += not any(address in e.block for e in person.vpn_exits)
        return outside

    config = WorldConfig(users=600, events=15_000, seed=7, randomised=True)
    assert roamed(config) > 10
    assert roamed(replace(config, randomised=False)) == 0


def test_a_new_accounts_first_sign_in_fails_more_often_than_a_habit_does(world: list) -> None:
    """Benign new accounts that fail first, as a stuffing list's names do: a model must learn
    stuffing from its infrastructure and pace, not from "no history and a failure"."""
    late = {p.user_id for i in range(CONFIG.users) if (p := profile(CONFIG, i)).join_day}
    first: dict[str, bool] = {}
    for g in world:
        if not g.truth.attack and g.event.user_id in late:
            first.setdefault(g.event.user_id, g.event.login_successful)
    assert len(first) >= 20
    failed_first = sum(not ok for ok in first.values()) / len(first)
    assert failed_first > 2 * CONFIG.knobs.typo_rate


def test_fraud_rings_differ_in_how_many_devices_they_reuse() -> None:
    """Domain randomisation of the ring: some work through one or two devices, others
    through many, so that a model learns reuse across accounts rather than one ring's size."""
    config = WorldConfig(users=300, events=6_000, seed=5, attack_share=0.1,
                         attack_mix={FRAUD_RING: 1.0})
    devices: defaultdict[str, set[str]] = defaultdict(set)
    for g in generate(config):
        if g.truth.attack == FRAUD_RING:
            devices[g.truth.campaign].add(g.event.device_id)
    sizes = sorted(len(d) for d in devices.values())
    assert len(sizes) >= 10
    assert sizes[0] <= 2 and sizes[-1] >= 6
