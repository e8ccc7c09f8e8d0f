"""Pictures of a study: a heatmap per primary metric, the helpfulness-vs-attack-success trade-off, and the
training trajectory when checkpoints were evaluated. matplotlib, Agg backend, PNG files."""

from __future__ import annotations

from pathlib import Path

from ptst.core.paths import name_as_path
from ptst.report.results import LABELS, Result, grid, primary_metrics
from ptst.report.tables import axes, cell_kind, is_percent


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    _plt().close(fig)
    return path


def heatmaps(results: list[Result], cfg: dict, out_dir: Path) -> list[Path]:
    plt = _plt()
    rows, cols = axes(results, cfg)
    paths = []
    for dataset, metric in primary_metrics(results):
        values = grid(results, dataset, metric, rows, cols)
        scale = 100 if is_percent(metric) else 1
        data = [[values[(r, c)][0] * scale if (r, c) in values else float("nan") for c in cols] for r in rows]
        fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(cols), 1.2 + 0.6 * len(rows)))
        cmap = "Greens" if metric.startswith(("accuracy", "rouge", "bert")) else "Reds"
        vmax = 100 if is_percent(metric) else max((v for row in data for v in row if v == v), default=1) or 1
        ax.imshow(data, cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                if (r, c) not in values:
                    continue
                mean, std, *_ = values[(r, c)]
                text = f"{mean * scale:.1f}" + (f"\n±{std * scale:.1f}" if std is not None else "")
                kind = cell_kind(r, c, cfg)
                ax.text(j, i, text, ha="center", va="center", fontsize=9,
                        fontweight="bold" if kind == "ptst" else "normal",
                        color="black" if mean * scale < 0.6 * vmax else "white")
                if kind:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5 if kind == "ptst" else 1.8,
                                               ls="-" if kind == "ptst" else "--",
                                               ec="#1f77b4" if kind == "ptst" else "#222"))
        ax.set_xticks(range(len(cols)), cols, rotation=20, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("test template")
        ax.set_ylabel("training template")
        unit = " (%)" if is_percent(metric) else ""
        ax.set_title(f"{dataset}: {LABELS.get(metric, metric)}{unit}\nblue box: PTST, dashed: same template",
                     fontsize=10)
        paths.append(_save(fig, out_dir / name_as_path(f"heatmap_{dataset}_{metric}.png", "eval set")))
    return paths


def tradeoff(results: list[Result], cfg: dict, out_dir: Path) -> Path | None:
    """x: helpfulness (the first task metric), y: attack success (the first harmful metric); one point per
    (training template, test template)."""
    plt = _plt()
    pairs = primary_metrics(results)
    roles = {(r.dataset, r.metric): r.role for r in results}
    helpful = next((p for p in pairs if roles[p] == "task"), None)
    harmful = next((p for p in pairs if roles[p] == "harmful"), None)
    if not helpful or not harmful:
        return None
    rows, cols = axes(results, cfg)
    gh, ga = grid(results, *helpful, rows, cols), grid(results, *harmful, rows, cols)
    fig, ax = plt.subplots(figsize=(8.4, 4.8))
    markers = dict(zip(cols, "osD^vP*X", strict=False))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    colors = {"base": "#999"} | {row: palette[k % len(palette)]
                                 for k, row in enumerate(r for r in rows if r != "base")}
    for row in rows:
        for col in cols:
            if (row, col) not in gh or (row, col) not in ga:
                continue
            kind = cell_kind(row, col, cfg)
            x, y = 100 * gh[(row, col)][0], 100 * ga[(row, col)][0]
            ax.scatter(x, y, s=90 if kind == "ptst" else 50, marker=markers.get(col, "o"),
                       c=colors[row], edgecolors="black" if kind == "ptst" else "none", linewidths=1.5, zorder=3,
                       label=f"{row} → {col}" + ("  (PTST)" if kind == "ptst" else ""))
    ax.set_xlabel(f"{helpful[0]}: {LABELS.get(helpful[1], helpful[1])} (%)  → better")
    ax.set_ylabel(f"{harmful[0]}: {LABELS.get(harmful[1], harmful[1])} (%)  → worse")
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.set_title("helpfulness vs attack success (black edge: PTST cells)", fontsize=10)
    ax.grid(alpha=0.3)
    # a legend, not labels at the points: cells of a small study often sit on top of each other
    ax.legend(title="train → test (colour: training, marker: test template)", fontsize=7, title_fontsize=7,
              loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return _save(fig, out_dir / "tradeoff.png")


def trajectory(results: list[Result], cfg: dict, out_dir: Path) -> Path | None:
    """Metrics of checkpoints along training (the early-stopping comparison), one line per (train, test)."""
    steps = [r for r in results if r.step is not None]
    if not steps:
        return None
    plt = _plt()
    pairs = [p for p in primary_metrics(results) if any(r.dataset == p[0] and r.metric == p[1] for r in steps)]
    fig, axs = plt.subplots(1, len(pairs), figsize=(4.8 * len(pairs), 3.8), squeeze=False)
    for ax, (dataset, metric) in zip(axs[0], pairs, strict=True):
        keys = sorted({(r.train_template, r.test_template) for r in steps})
        for train, test in keys:
            by_step: dict[int, list[float]] = {}
            for r in steps:
                if (r.dataset, r.metric, r.train_template, r.test_template) == (dataset, metric, train, test):
                    by_step.setdefault(r.step, []).append(r.value)
            pts = sorted((step, sum(v) / len(v)) for step, v in by_step.items())  # mean over seeds
            if pts:
                kind = cell_kind(train, test, cfg)
                ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", lw=2.5 if kind == "ptst" else 1.2,
                        label=f"{train} → {test}")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{LABELS.get(metric, metric)} (%)")
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, out_dir / "trajectory.png")
