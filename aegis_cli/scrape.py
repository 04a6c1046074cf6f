"""Reading the services' Prometheus `/metrics` endpoints: samples, totals over labels,
differences between two scrapes and quantiles of histograms."""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Scrape:
    """Every sample of one or more endpoints: (sample name, labels) -> value. `gauges`: the
    names whose samples are levels, not running totals (a difference keeps them as they are)."""

    values: Mapping[Key, float] = field(default_factory=dict)
    gauges: frozenset[str] = frozenset()

    def __add__(self, other: Scrape) -> Scrape:
        return Scrape({**self.values, **other.values}, self.gauges | other.gauges)

    def since(self, before: Scrape) -> Scrape:
        """What the running totals gained since `before` (levels as they are now)."""
        return Scrape(
            {key: value if key[0] in self.gauges else value - before.values.get(key, 0.0)
             for key, value in self.values.items()},
            self.gauges,
        )

    def matching(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """The samples of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return [(dict(key_labels), value) for (sample, key_labels), value in self.values.items()
                if sample == name and wanted <= key_labels]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        return sum(value for _, value in self.matching(name, **labels))

    def label_values(self, name: str, label: str) -> list[str]:
        return sorted({labels[label] for labels, _ in self.matching(name) if label in labels})

    def quantile(self, histogram: str, q: float, **labels: str) -> float | None:
        """The q-quantile of a histogram (its base name, without _bucket), interpolated within
        its bucket as Prometheus's histogram_quantile does; None when it holds no sample."""
        cumulative: dict[float, float] = {}
        for sample_labels, value in self.matching(f"{histogram}_bucket", **labels):
            bound = float(sample_labels["le"])
            cumulative[bound] = cumulative.get(bound, 0.0) + value
        bounds = sorted(cumulative)
        if not bounds or cumulative[bounds[-1]] <= 0:
            return None
        rank = q * cumulative[bounds[-1]]
        lower, below = 0.0, 0.0
        for bound in bounds:
            if cumulative[bound] >= rank:
                if math.isinf(bound):
                    return lower
                share = (rank - below) / (cumulative[bound] - below or 1.0)
                return lower + (bound - lower) * share
            lower, below = bound, cumulative[bound]
        return lower


def parse(text: str) -> Scrape:
    values: dict[Key, float] = {}
    gauges = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name, frozenset(sample.labels.items())] = sample.value
            if family.type in ("gauge", "info"):
                gauges.add(sample.name)
    return Scrape(values, frozenset(gauges))


def scrape(url: str, timeout_s: float = 2.0) -> Scrape:
    """One endpoint's samples; OSError when it does not answer."""
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:
        return parse(reply.read().decode())
