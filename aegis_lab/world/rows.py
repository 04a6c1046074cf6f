"""A generated world as the router client's input rows: each event with its ground truth."""

from __future__ import annotations

from collections.abc import Iterator

from aegis_lab.world import GeneratedLogin, WorldConfig, generate
from router_service.client.rows import Labels, ParsedRow


def labels(login: GeneratedLogin) -> Labels:
    """The RBA dataset's two labels of a generated login."""
    truth = login.truth
    return Labels(truth.is_attack_ip, truth.is_account_takeover(login.event.login_successful))


def generated_rows(config: WorldConfig) -> Iterator[ParsedRow]:
    """The world's logins as replay input rows, numbered from 1, with their RBA labels."""
    for number, login in enumerate(generate(config), 1):
        yield ParsedRow(line=number, row=number, event=login.event, labels=labels(login))
