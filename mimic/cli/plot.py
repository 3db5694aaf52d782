"""Learning curves from ``log.csv`` files.

    plot_runs(["output/cartpole"], "output/cartpole/learning_curve.png")
    plot_runs(["runs/hopper_s0", "runs/hopper_s1", "runs/hopper_s2"], "hopper.png")   # mean +- std
    mimic-plot runs/hopper_s0 runs/hopper_s1 -o hopper.png
    mimic-plot runs/a runs/b --metrics Test_Return Test_Episode_Length -o ab.png   # vs samples and time

Panels: test return vs samples, test return vs wall time, and (when logged, e.g. the
imitation env) normalised test return vs samples.  Runs that share a label are
aggregated as seeds: mean +- std band over a common sample grid, thin lines per seed.
Default label = directory name with a trailing seed suffix (``_s3``, ``_seed3``,
``-3``) removed, so seeds of one experiment group automatically.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np


def read_log(run_dir: str) -> dict[str, np.ndarray]:
    path = run_dir if run_dir.endswith(".csv") else os.path.join(run_dir, "log.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols: dict[str, np.ndarray] = {}
    if not rows:
        return cols
    for key in rows[0].keys():
        vals = []
        for r in rows:
            try:
                vals.append(float(r[key]) if r[key] not in ("", None) else np.nan)
            except ValueError:
                vals.append(np.nan)
        cols[key] = np.asarray(vals)
    return cols


def default_label(run_dir: str) -> str:
    name = os.path.basename(os.path.normpath(run_dir))
    return re.sub(r"([_-](s|seed)?\d+)$", "", name) or name


def _curve(log: dict[str, np.ndarray], y_key: str, x_key: str) -> tuple[np.ndarray, np.ndarray]:
    if y_key not in log or x_key not in log:
        return np.zeros(0), np.zeros(0)
    x, y = log[x_key], log[y_key]
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _x_key(logs: Sequence[dict[str, np.ndarray]]) -> str:
    """Samples, unless the runs never collect (static-dataset training): then Iteration."""
    for log in logs:
        s = log.get("Samples")
        if s is not None and len(s) > 1 and np.nanmax(s) > np.nanmin(s):
            return "Samples"
    return "Iteration"


def _pick_y(logs: Sequence[dict[str, np.ndarray]], prefer: str, fallback: str) -> str:
    return prefer if any(np.isfinite(l.get(prefer, np.zeros(0))).any() for l in logs) else fallback


def _plot_group(ax, logs, label, y_key, x_key, color, x_scale=1.0):
    curves = [c for c in (_curve(l, y_key, x_key) for l in logs) if len(c[0])]
    if not curves:
        return
    if len(curves) == 1:
        ax.plot(curves[0][0] * x_scale, curves[0][1], color=color, label=label)
        return
    for x, y in curves:
        ax.plot(x * x_scale, y, color=color, alpha=0.25, linewidth=0.8)
    lo = max(x[0] for x, _ in curves)
    hi = min(x[-1] for x, _ in curves)
    if hi <= lo:
        return
    grid = np.linspace(lo, hi, 200)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    mean, std = ys.mean(0), ys.std(0)
    ax.plot(grid * x_scale, mean, color=color, label=f"{label} (n={len(curves)})")
    ax.fill_between(grid * x_scale, mean - std, mean + std, color=color, alpha=0.2)


def _read_groups(run_dirs: Sequence[str], labels: Optional[Sequence[str]]) -> "OrderedDict[str, list[dict]]":
    labels = list(labels) if labels is not None else [default_label(d) for d in run_dirs]
    groups: "OrderedDict[str, list[dict]]" = OrderedDict()
    for d, lab in zip(run_dirs, labels):
        log = read_log(d)
        if log:
            groups.setdefault(lab, []).append(log)
    if not groups:
        raise ValueError(f"no log rows in {list(run_dirs)}")
    return groups


def _wall_scale(logs) -> tuple[float, str]:
    max_wall = max(np.nanmax(l["Wall_Time"]) if "Wall_Time" in l and len(l["Wall_Time"]) else 0 for l in logs)
    return (1 / 3600, "hours") if max_wall > 2 * 3600 else (1 / 60, "minutes")


def _save(fig, out_png: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    tmp = os.path.join(os.path.dirname(os.path.abspath(out_png)), f".tmp{os.getpid()}_{os.path.basename(out_png)}")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png


def plot_metrics(
    run_dirs: Sequence[str],
    out_png: str,
    metrics: Sequence[str],
    labels: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
) -> str:
    """One row per metric (a log.csv column), against samples (left) and wall time (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _read_groups(run_dirs, labels)
    all_logs = [l for ls in groups.values() for l in ls]
    x_key = _x_key(all_logs)
    wall_scale, wall_unit = _wall_scale(all_logs)
    fig, axes = plt.subplots(len(metrics), 2, figsize=(10.4, 3.6 * len(metrics)), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, metric in enumerate(metrics):
        for i, (lab, logs) in enumerate(groups.items()):
            _plot_group(axes[row, 0], logs, lab, metric, x_key, colors[i % len(colors)])
            _plot_group(axes[row, 1], logs, lab, metric, "Wall_Time", colors[i % len(colors)], x_scale=wall_scale)
        for col, xlabel in enumerate(["samples" if x_key == "Samples" else "iteration", f"wall time ({wall_unit})"]):
            axes[row, col].set_xlabel(xlabel)
            axes[row, col].set_ylabel(metric.replace("_", " ").lower())
            axes[row, col].grid(alpha=0.3)
    axes[0, 0].legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out_png)


def plot_runs(
    run_dirs: Sequence[str], out_png: str, labels: Optional[Sequence[str]] = None, title: Optional[str] = None
) -> str:
    """Plot one or several runs; runs sharing a label are drawn as mean +- std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _read_groups(run_dirs, labels)
    all_logs = [l for ls in groups.values() for l in ls]

    x_key = _x_key(all_logs)
    y_key = _pick_y(all_logs, "Test_Return", "Train_Return")
    has_norm = any(np.isfinite(l.get("Normalized_Test_Return", np.zeros(0))).any() for l in all_logs)
    wall_scale, wall_unit = _wall_scale(all_logs)

    n_panels = 3 if has_norm else 2
    fig, axes = plt.subplots(1, n_panels, figsize=(5.2 * n_panels, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (lab, logs) in enumerate(groups.items()):
        c = colors[i % len(colors)]
        _plot_group(axes[0], logs, lab, y_key, x_key, c)
        _plot_group(axes[1], logs, lab, y_key, "Wall_Time", c, x_scale=wall_scale)
        if has_norm:
            _plot_group(axes[2], logs, lab, "Normalized_Test_Return", x_key, c)
    ylabel = y_key.replace("_", " ").lower()
    axes[0].set_xlabel("samples" if x_key == "Samples" else "iteration")
    axes[0].set_ylabel(ylabel)
    axes[1].set_xlabel(f"wall time ({wall_unit})")
    axes[1].set_ylabel(ylabel)
    if has_norm:
        axes[2].set_xlabel("samples" if x_key == "Samples" else "iteration")
        axes[2].set_ylabel("normalised test return")
        axes[2].set_ylim(0, 1.05)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out_png)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="mimic-plot", description="Plot learning curves from run folders (log.csv).")
    p.add_argument("runs", nargs="+", help="run folders (or log.csv files); same label -> mean +- std")
    p.add_argument("-o", "--out", default="learning_curve.png")
    p.add_argument("--labels", nargs="*", default=None, help="one label per run (default: folder name minus seed)")
    p.add_argument("--title", default=None)
    p.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        help="log.csv columns, one row each against samples and wall time (e.g. Test_Return "
        "Test_Episode_Length); default: the test-return panels",
    )
    a = p.parse_args(argv)
    if a.labels is not None and len(a.labels) != len(a.runs):
        p.error("--labels needs one label per run")
    if a.metrics:
        print(plot_metrics(a.runs, a.out, a.metrics, a.labels, a.title))
    else:
        print(plot_runs(a.runs, a.out, a.labels, a.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
