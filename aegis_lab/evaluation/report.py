"""The evaluation report: Markdown with its PNG plots and the figures as JSON, in one folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt

from aegis_lab.evaluation.analysis import BASELINE, MESH, NOVELTY, Analysis

REPORT_FILE = "report.md"
METRICS_FILE = "metrics.json"
# The scores drawn in the per-group bar charts (every score is in the tables).
_IN_BARS = (MESH, "detection", BASELINE, NOVELTY)
_PLOTTED = 6  # curves per plot: the mesh, the agents, the log-odds pool


def write_report(folder: Path, analysis: Analysis, about: dict[str, Any]) -> Path:
    """Write report.md, metrics.json and the plots into `folder`; returns the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METRICS_FILE).write_text(
        json.dumps({"about": about, **analysis.to_json()}, indent=2, sort_keys=True) + "\n"
    )
    plots = {
        "roc.png": _roc(analysis), "pr.png": _pr(analysis),
        "reliability.png": _reliability(analysis), "recall_by_attack.png": _by_attack(analysis),
        "hard_cases.png": _hard_cases(analysis),
    }
    for name, figure in plots.items():
        figure.savefig(folder / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
    path = folder / REPORT_FILE
    path.write_text(_markdown(analysis, about))
    return path


def _plotted(analysis: Analysis) -> list[str]:
    names = [MESH, *analysis.agent_statuses, "log-odds pool"]
    return [n for n in names if n in analysis.scores][:_PLOTTED]


def _roc(analysis: Analysis) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(6, 4.5))
    for name in _plotted(analysis):
        curve = analysis.scores[name].roc
        ax.plot(curve.x, curve.y, label=f"{name} (AUC {curve.area:.4f})",
                linewidth=2.2 if name == MESH else 1.2)
    for budget in (0.001, 0.01):
        ax.axvline(budget, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("legitimate logins challenged (false positive rate, log scale)")
    ax.set_ylabel("attacks caught (recall)")
    ax.set_title("ROC on the held-out world")
    ax.legend(fontsize=8, loc="lower right")
    return figure


def _pr(analysis: Analysis) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(6, 4.5))
    for name in _plotted(analysis):
        curve = analysis.scores[name].pr
        ax.plot(curve.x, curve.y, label=f"{name} (AP {curve.area:.4f})",
                linewidth=2.2 if name == MESH else 1.2)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall on the held-out world")
    ax.legend(fontsize=8, loc="lower left")
    return figure


def _reliability(analysis: Analysis) -> plt.Figure:
    rel = analysis.reliability
    figure, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    filled = rel.counts > 0
    ax.plot(rel.predicted[filled], rel.observed[filled], marker="o",
            label=f"mesh risk (ECE {rel.ece:.4f})")
    for x, y, n in zip(rel.predicted[filled], rel.observed[filled], rel.counts[filled],
                       strict=True):
        ax.annotate(str(n), (x, y), fontsize=7, textcoords="offset points", xytext=(4, -10))
    ax.set_xlabel("predicted risk (bin mean)")
    ax.set_ylabel("share of attacks in the bin")
    ax.set_title("Reliability of the mesh's risk (logins per bin)")
    ax.legend(fontsize=8, loc="upper left")
    return figure


def _bars(values: dict[str, dict[str, float]], title: str, ylabel: str) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(8, 4))
    groups = list(next(iter(values.values())).keys()) if values else []
    width = 0.8 / max(len(values), 1)
    for k, (name, by_group) in enumerate(values.items()):
        xs = [i + k * width for i in range(len(groups))]
        ax.bar(xs, [by_group.get(g, 0.0) for g in groups], width, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], groups, rotation=20,
                  fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return figure


def _by_attack(analysis: Analysis) -> plt.Figure:
    values = {n: analysis.scores[n].recall_by_attack for n in _IN_BARS
              if n in analysis.scores}
    figure = _bars(values, "Recall per attack type at 1% of legitimate logins challenged",
                   "attacks caught")
    figure.axes[0].axhline(0.85, color="grey", linestyle=":", linewidth=0.8)
    return figure


def _hard_cases(analysis: Analysis) -> plt.Figure:
    values = {n: analysis.scores[n].flagged_by_hard_case for n in _IN_BARS
              if n in analysis.scores}
    return _bars(values, "Legitimate hard cases challenged at the 1% operating point",
                 "share challenged (false positives)")


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.2f}%"


def _markdown(a: Analysis, about: dict[str, Any]) -> str:
    lines = [
        "# AegisAI evaluation on a held-out world",
        "",
        f"Measured by `{about['command']}` on {about['evaluated_at']}.",
        "",
        _world_line(about["world"], a.logins),
        f"- Training world: {about.get('training_world', 'unknown')}.",
        f"- Replayed through the running cluster at {about['router']} "
        f"({about['max_in_flight']} requests in flight, {a.latency_ms['p50']:.1f} ms p50, "
        f"{a.latency_ms['p99']:.1f} ms p99 per decision, {about['elapsed_s']:.0f} s in all).",
        f"- Measured: the {a.measured} logins after a {about['warmup_days']}-day warm-up "
        f"(before it, logins only build history), {a.attacks} of them attacks. "
        f"Decisions missing: {sum(a.errors.values())} {a.errors or ''}.",
        "- Operating points are challenge budgets on legitimate logins: recall at 1% is the "
        "share of attack attempts above the risk that challenges 1% of legitimate logins.",
    ]
    lines += [f"- **Not the full mesh**: {name}: {why}."
              for name, why in about.get("untrained_agents", {}).items()]
    lines += [
        "",
        "## Targets (recall at the 1% and 0.1% challenge budgets; friction at the default policy)",
        "",
    ]
    lines += [f"- [{'x' if met else ' '}] {name}" for name, met in a.targets.items()]
    lines += [
        "",
        "## Ranking",
        "",
        "| score | ROC AUC | PR AUC | recall at 0.1% | recall at 1% | ECE | coverage |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in a.scores.items():
        m = s.summary
        lines.append(f"| {name} | {m.roc_auc:.4f} | {m.pr_auc:.4f} | {_pct(m.recall_at_0_1pct)} "
                     f"| {_pct(m.recall_at_1pct)} | {m.ece:.4f} | {_pct(s.coverage)} |")
    lines += ["", "Each agent alone and the recombinations are scored from the per-agent "
              "signals recorded in the same decisions. `behavior` is the Freeman et al. "
              "(NDSS 2016) style baseline: the user's own history, nothing else. The "
              "`novelty baseline` needs no model: the login's attributes its user was never "
              "seen with, weighted by how rarely anyone's change and how rare the value is, on "
              "the same contexts; every agent should clear it.", "",
              "![ROC](roc.png) ![PR](pr.png)", ""]
    lines += _table("Recall per attack type at 1%", "attack type", a.counts_by_attack,
                    {n: a.scores[n].recall_by_attack for n in a.scores if n in _columns(a)})
    lines += ["", "![recall by attack](recall_by_attack.png)", ""]
    lines += _table("Legitimate hard cases challenged at the 1% operating point",
                    "hard case", a.counts_by_hard_case,
                    {n: a.scores[n].flagged_by_hard_case for n in a.scores if n in _columns(a)})
    lines += ["", "![hard cases](hard_cases.png)", "", "## Calibration", "",
              f"ECE of the mesh's risk: {a.reliability.ece:.4f} (10 equal-width bins).", "",
              "![reliability](reliability.png)", "", "## What the policy did", ""]
    for group, shares in a.actions.items():
        lines.append(f"- {group}: " + ", ".join(f"{k} {_pct(v)}" for k, v in shares.items()))
    lines.append("- escalation rate: " + ", ".join(
        f"{k} {_pct(v)}" for k, v in a.escalation_rate.items()))
    lines.append("- attacks not allowed, per type: " + ", ".join(
        f"{k} {_pct(v)}" for k, v in a.policy_recall_by_attack.items()))
    lines.append("- legitimate logins not allowed: " + ", ".join(
        f"{k} {_pct(v)}" for k, v in a.policy_not_allowed.items()))
    lines += ["", "## Agents", ""]
    for agent, statuses in a.agent_statuses.items():
        lines.append(f"- {agent}: " + ", ".join(f"{k} {v}" for k, v in statuses.items()))
    lines.append("- models: " + "; ".join(
        f"{k} {', '.join(v)}" for k, v in a.model_versions.items()))
    return "\n".join(lines) + "\n"


def _world_line(world: dict[str, Any], logins: int) -> str:
    if "file" in world:
        return (f"- World: {logins} logins of {world['file']}, the truth from "
                f"{world['truth']}.")
    return (f"- World: seed {world['seed']}, {logins} logins of {world['users']} users (none "
            f"seen in training), from {world['start']} over {world['days']} days; attack share "
            f"{world['attack_share']}, mix {world['attack_mix']}.")


def _columns(a: Analysis) -> list[str]:
    return [MESH, *a.agent_statuses, "log-odds pool", NOVELTY]


def _table(title: str, key: str, counts: dict[str, int],
           columns: dict[str, dict[str, float]]) -> list[str]:
    names = list(columns)
    lines = [f"## {title}", "", f"| {key} | logins | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for group, count in counts.items():
        cells = " | ".join(_pct(columns[n].get(group, float("nan"))) for n in names)
        lines.append(f"| {group} | {count} | {cells} |")
    return lines
