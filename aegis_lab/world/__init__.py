"""A seeded synthetic login world: people with habits and hard cases, attack campaigns, truth."""

from aegis_lab.world.config import DEFAULT_ATTACK_MIX, DEFAULT_START, WorldConfig, parse_attack_mix
from aegis_lab.world.stream import GeneratedLogin, generate
from aegis_lab.world.truth import ATTACK_TYPES, HARD_CASES, Truth

__all__ = [
    "ATTACK_TYPES",
    "DEFAULT_ATTACK_MIX",
    "DEFAULT_START",
    "HARD_CASES",
    "GeneratedLogin",
    "Truth",
    "WorldConfig",
    "generate",
    "parse_attack_mix",
]
