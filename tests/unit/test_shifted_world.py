"""The shifted family of evaluation worlds: apart from the training generator, RBA-shaped,
every tactic and hard case present, and each tactic what its story says."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pytest

from aegis_cli.errors import CliError
from aegis_cli.labelled_file import read_labelled
from aegis_cli.main import main
from aegis_domain.geo_data import haversine_km
from aegis_lab.shifted.config import ShiftedConfig, habits
from aegis_lab.shifted.people import CARRIER_NAT, CORPORATE_EGRESS
from aegis_lab.shifted.places import ALL_LANDS, DESKTOPS, HOSTING, PHONES, VPN_EXITS, lookalike
from aegis_lab.shifted.tactics import COOKIE_REPLAY, LOCAL_LOOKALIKE, TACTICS
from aegis_lab.shifted.world import generate
from aegis_lab.world import GeneratedLogin
from aegis_lab.world import places as training
from aegis_lab.world.truth import NEW_ACCOUNT, NEW_DEVICE, SHARED_DEVICE, TRAVEL, VPN

CONFIG = ShiftedConfig(users=300, seed=3, history_days=10, eval_days=4, attack_share=0.06)


@functools.cache
def world() -> list[GeneratedLogin]:
    return generate(CONFIG)


def test_nothing_of_its_geography_or_browsers_is_the_training_generators() -> None:
    trained_networks = [n for c in training.COUNTRIES
                        for n in (*c.residential, c.mobile, c.business)]
    trained_networks += [*training.HOSTING, *training.VPN_EXITS]
    ours = [n for land in ALL_LANDS for n in (*land.isps, land.carrier, land.offices)]
    ours += [*HOSTING, *VPN_EXITS]
    assert not {c.code for c in training.COUNTRIES} & {land.code for land in ALL_LANDS}
    assert not {n.asn for n in trained_networks} & {n.asn for n in ours}
    assert not any(a.block.overlaps(b.block) for a in trained_networks for b in ours)
    trained_agents = {c.user_agent for c in (*training.DESKTOP_CLIENTS, *training.MOBILE_CLIENTS,
                                             *training.TABLET_CLIENTS, *training.BOT_CLIENTS)}
    assert not trained_agents & {b.user_agent for b in (*DESKTOPS, *PHONES)}


def test_logins_are_rba_shaped_in_time_order_and_the_same_for_the_same_seed() -> None:
    logins = world()
    assert all(not (g.event.device_id or g.event.session_id or g.event.HasField("latitude"))
               for g in logins)
    times = [g.event.timestamp.ToMilliseconds() for g in logins]
    assert times == sorted(times)
    assert [g.event.event_id for g in generate(CONFIG)] == [g.event.event_id for g in logins]


def test_every_tactic_and_hard_case_happens_and_attacks_only_in_the_window() -> None:
    logins = world()
    attacks = Counter(g.truth.attack for g in logins if g.truth.is_attack)
    cases = Counter(g.truth.hard_case for g in logins if g.truth.hard_case)
    assert set(attacks) == set(TACTICS)
    assert {TRAVEL, NEW_DEVICE, VPN, SHARED_DEVICE, NEW_ACCOUNT, CARRIER_NAT,
            CORPORATE_EGRESS} <= set(cases)
    assert all(g.event.timestamp.ToMilliseconds() >= CONFIG.eval_start_ms
               for g in logins if g.truth.is_attack)


def test_a_replayed_cookie_is_the_victims_browser_minutes_later_and_far_away() -> None:
    logins = world()
    for k, g in enumerate(logins):
        if g.truth.attack != COOKIE_REPLAY:
            continue
        victim = [p.event for p in logins[:k]
                  if p.event.user_id == g.event.user_id and not p.truth.is_attack]
        own = victim[-1]
        minutes = (g.event.timestamp.ToMilliseconds() - own.timestamp.ToMilliseconds()) / 60_000
        assert any(v.user_agent == g.event.user_agent for v in victim)
        assert minutes < 60
        lands = {land.code: land.places[0] for land in ALL_LANDS}
        here, there = lands[own.country], lands[g.event.country]
        assert haversine_km(here.latitude, here.longitude, there.latitude, there.longitude) > 2_000


def test_a_lookalike_comes_from_the_victims_isp_and_city_with_a_near_identical_browser() -> None:
    logins = world()
    seen = 0
    for k, g in enumerate(logins):
        if g.truth.attack != LOCAL_LOOKALIKE:
            continue
        own = [p.event for p in logins[:k]
               if p.event.user_id == g.event.user_id and not p.truth.is_attack]
        assert any(e.asn == g.event.asn and e.city == g.event.city for e in own)
        assert g.event.user_agent not in {e.user_agent for e in own}
        seen += 1
    assert seen


def test_a_lookalike_browser_is_one_build_away() -> None:
    near = lookalike(DESKTOPS[0])
    assert near.user_agent != DESKTOPS[0].user_agent
    assert len(near.user_agent) == len(DESKTOPS[0].user_agent)
    assert near.browser == DESKTOPS[0].browser


def test_each_world_has_its_own_habits() -> None:
    assert habits(1) != habits(2)
    assert habits(1) == habits(1)


def test_a_world_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 10 users"):
        ShiftedConfig(users=3, seed=1)


@pytest.mark.parametrize("fmt", ["rba", "jsonl"])
def test_a_written_world_reads_back_with_its_truth(tmp_path: Path, fmt: str) -> None:
    suffix = ".csv" if fmt == "rba" else ".jsonl"
    out, truth = tmp_path / f"world{suffix}", tmp_path / "truth.jsonl"
    args = ["generate", "--family", "shifted", "--users", "40", "--days", "8", "--seed", "5",
            "--attack-share", "0.1", "--format", fmt, "--out", str(out), "--truth", str(truth)]
    assert main(args) == 0

    labelled = read_labelled(out, truth, None)
    expected = generate(ShiftedConfig(users=40, seed=5, history_days=3, eval_days=5,
                                      attack_share=0.1))
    assert [(x.attack, x.hard_case) for x in labelled] == [
        (g.truth.attack, g.truth.hard_case) for g in expected]
    assert [x.row.event.user_agent for x in labelled] == [g.event.user_agent for g in expected]


def test_a_truth_file_that_does_not_match_the_world_is_refused(tmp_path: Path) -> None:
    out, truth = tmp_path / "world.jsonl", tmp_path / "truth.jsonl"
    assert main(["generate", "--events", "50", "--out", str(out), "--truth", str(truth)]) == 0
    lines = truth.read_text().splitlines()
    truth.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(CliError, match="49 truth lines for the 50 records"):
        read_labelled(out, truth, None)
    truth.write_text("\n".join([*lines[:-1], '{"hard_case": "travel"}']) + "\n")
    with pytest.raises(CliError, match="line 50: expected an object with a string `attack`"):
        read_labelled(out, truth, None)
