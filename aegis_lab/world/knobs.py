"""The generator's constants about people and their sharing, as one value a world carries:
the defaults, or a draw per world (domain randomisation), so that a model trained on many
worlds learns what is new or shared for a user, not the rates of one generator."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Knobs:
    """Shares of the population, and chances per login or per active day."""

    household_rate: float = 0.15  # of neighbouring user pairs sharing a home and a device
    employed_rate: float = 0.30  # log in from their employer's network on weekdays
    users_per_company: int = 60  # behind one corporate egress address pair
    late_join_rate: float = 0.10  # open their account after the world starts
    vpn_user_rate: float = 0.06
    # Of the VPN users, those who start using it partway through the world (on their own
    # devices, a first VPN exit is new to their history): the rest use it from the start.
    vpn_late_start_rate: float = 0.0
    frequent_traveller_rate: float = 0.25
    typo_rate: float = 0.05
    new_phone_rate: float = 1 / 150
    on_carrier_rate: float = 0.4  # a phone's logins over the carrier rather than home wifi
    # The carrier's NAT pool per country: 2**bits addresses shared by every subscriber.
    carrier_pool_bits: int = 8
    activity_sigma: float = 0.8  # log-normal spread of activity between users
    # Users whose login service reports only the public RBA dataset's columns (no device id,
    # session, coordinates, auth method or failure count): the attacks on them too.
    bare_share: float = 0.0
    # Chance per active day that one of a user's devices updates its browser (a new version
    # in its user agent): new to the user's history, and benign.
    browser_update_rate: float = 0.0
    # Of the attackers who know the victim (low_and_slow), those whose user agent is the
    # victim's with one number off rather than an exact copy.
    near_copy_rate: float = 0.0
    # Of the VPN users, those whose provider is in no hosting list (the world's own, with exits
    # in several countries: places.unlisted_vpn); attackers use its exits too.
    unlisted_vpn_rate: float = 0.0
    # Of a VPN user's VPN logins, those through any exit of their provider (its app picked
    # another server) rather than their usual ones: a first login from that exit's country.
    vpn_roam_rate: float = 0.0

    @classmethod
    def drawn(cls, seed: int) -> Knobs:
        """A world's own constants, drawn from its seed over ranges that hold the defaults
        and lean towards more benign sharing (big companies, small carrier pools); a good
        share of its users bare (RBA-shaped logins), so that a model learns both with and
        without a device id and coordinates."""
        rng = random.Random(f"{seed}/knobs")
        return cls(
            household_rate=rng.uniform(0.05, 0.35),
            employed_rate=rng.uniform(0.15, 0.55),
            users_per_company=rng.randint(20, 400),
            # Wide, and high: a service signs up new users all the time, and a model that saw few
            # first logins reads "no history" as an attack's (a stuffing list's unknown names).
            late_join_rate=rng.uniform(0.1, 0.5),
            vpn_user_rate=rng.uniform(0.02, 0.15),
            frequent_traveller_rate=rng.uniform(0.1, 0.4),
            typo_rate=rng.uniform(0.02, 0.1),
            new_phone_rate=rng.uniform(1 / 400, 1 / 60),
            on_carrier_rate=rng.uniform(0.2, 0.7),
            carrier_pool_bits=rng.randint(4, 8),
            activity_sigma=rng.uniform(0.5, 1.1),
            # Drawn last, so that the draws above stay what they were for a seed.
            bare_share=rng.uniform(0.3, 0.7),
            vpn_late_start_rate=rng.uniform(0.3, 0.7),
            browser_update_rate=rng.uniform(0.01, 0.06),
            near_copy_rate=rng.uniform(0.2, 0.8),
            unlisted_vpn_rate=rng.uniform(0.2, 0.8),
            vpn_roam_rate=rng.uniform(0.05, 0.4),
        )
