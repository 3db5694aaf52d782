"""Benchmark: our AWR on Hopper-v5 and LunarLander-v3 vs the official AWR logs (NOT a CI test).

    pip install swig && pip install "gymnasium[mujoco,box2d]"
    python bench/awr_gym.py --tasks hopper lunarlander --seeds 0 1 2 --samples 1000000 --jobs 2
    python bench/awr_gym.py --report_only            # rebuild the report from finished/partial runs

Every (task, seed) is one `mimic/train.py --arg_file args/gym_<task>.txt` process (``--jobs``
at a time, 1 torch thread each) writing to bench/results/runs/<task>_s<seed>/ (log.csv,
model.pt, stdout.log).  Runs are started with --resume --save_buffer, so re-running the
command continues killed runs exactly; a run already past --samples is left as it is, so
e.g. a later `--samples 500000` reuses finished 1M runs (their log has the 0.5M point).  The report
(bench/results/awr_gym.json / .md / awr_gym_<task>.png) gives the
mean +- std over seeds of the test return (10 deterministic episodes, last evaluation at or
before the milestone) at samples/2 and samples, beside the official AWR numbers, plus
sampling throughput and learner time per iteration.  It is refreshed after every finished run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")

TASKS = {
    "hopper": {
        "env": "Hopper-v5",
        "args": "args/gym_hopper.txt",
        # xbpeng/awr data/logs/hopper_awr_log*.txt and paper Fig. 3 (Hopper-v2)
        "official": {"0.5M": "≈400–1000", "1M": "≈1200–2200"},
    },
    "lunarlander": {
        "env": "LunarLander-v3",
        "args": "args/gym_lunarlander.txt",
        # xbpeng/awr data/logs/lunarlander_awr_log*.txt (LunarLander-v2)
        "official": {"1.2M": "≈160", "5.6M": "≈226"},
    },
}


def run_dir(task: str, seed: int) -> str:
    return os.path.join(RESULTS, "runs", f"{task}_s{seed}")


def command(task: str, seed: int, samples: int, a) -> list[str]:
    return [
        sys.executable,
        os.path.join(REPO, "mimic", "train.py"),
        "--arg_file",
        TASKS[task]["args"],
        "--seed",
        str(seed),
        "--max_samples",
        str(samples),
        "--output_dir",
        run_dir(task, seed),
        "--test_every",
        str(a.test_every),
        "--test_episodes",
        str(a.test_episodes),
        "--plot_every",
        "0",
        "--iters_per_checkpoint",
        "100",
        "--num_threads",
        "1",
        "--resume",
        "--save_buffer",
    ]


def read_log(path: str) -> list[dict[str, float]]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return [
            {k: (float(v) if v not in ("", None) else float("nan")) for k, v in r.items()} for r in csv.DictReader(f)
        ]


def test_return_at(rows: list[dict[str, float]], milestone: float):
    """Last test evaluation at or before ``milestone`` samples (None if the run is not there yet)."""
    if not rows or rows[-1]["Samples"] < milestone:
        return None
    tested = [r for r in rows if r["Samples"] <= milestone and np.isfinite(r["Test_Return"])]
    return tested[-1]["Test_Return"] if tested else None


def summarise(tasks: list[str], seeds: list[int], samples: int) -> dict[str, Any]:
    milestones = {"half": samples / 2, "full": samples}
    out: dict[str, Any] = {"samples": samples, "seeds": seeds, "tasks": {}}
    for task in tasks:
        per_seed, t = {}, {}
        for seed in seeds:
            rows = read_log(os.path.join(run_dir(task, seed), "log.csv"))
            if not rows:
                continue
            sample_time = sum(r["Sample_Time"] for r in rows)
            per_seed[seed] = {
                "iterations": len(rows),
                "samples": int(rows[-1]["Samples"]),
                "wall_time_s": rows[-1]["Wall_Time"],
                "test_return_half": test_return_at(rows, milestones["half"]),
                "test_return_full": test_return_at(rows, milestones["full"]),
                "last_test_return": next(
                    (r["Test_Return"] for r in reversed(rows) if np.isfinite(r["Test_Return"])), None
                ),
                "sampling_samples_per_s": rows[-1]["Samples"] / sample_time if sample_time else None,
                "overall_samples_per_s": rows[-1]["Samples"] / rows[-1]["Wall_Time"],
                "update_time_per_iter_s": float(np.mean([r["Update_Time"] for r in rows])),
                "sample_time_per_iter_s": float(np.mean([r["Sample_Time"] for r in rows])),
            }
        for key in ("test_return_half", "test_return_full"):
            vals = [v[key] for v in per_seed.values() if v[key] is not None]
            t[key] = {
                "mean": float(np.mean(vals)) if vals else None,
                "std": float(np.std(vals)) if vals else None,
                "n": len(vals),
            }
        for key in (
            "sampling_samples_per_s",
            "overall_samples_per_s",
            "update_time_per_iter_s",
            "sample_time_per_iter_s",
        ):
            vals = [v[key] for v in per_seed.values() if v[key] is not None]
            t[key] = float(np.mean(vals)) if vals else None
        out["tasks"][task] = {
            "env": TASKS[task]["env"],
            "official": TASKS[task]["official"],
            "summary": t,
            "per_seed": per_seed,
        }
    return out


def fmt(s: dict) -> str:
    return "–" if s["mean"] is None else f"{s['mean']:.0f} ± {s['std']:.0f} (n={s['n']})"


def write_report(res: dict[str, Any]) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "awr_gym.json"), "w") as f:
        json.dump(res, f, indent=2)
    n = res["samples"]
    lines = [
        f"# AWR gym benchmark ({len(res['seeds'])} seeds, {n:,} samples)",
        "",
        f"Test return = 10 deterministic episodes, last evaluation at or before the milestone; "
        f"mean ± std over seeds.  Generated by `bench/awr_gym.py` on {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"| task | ours @ {n / 2 / 1e6:g}M | ours @ {n / 1e6:g}M | official AWR | sampling samples/s | "
        f"overall samples/s | learner s/iter | sampler s/iter |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in res["tasks"].values():
        s = d["summary"]
        off = ", ".join(f"{k}: {v}" for k, v in d["official"].items())
        g = lambda k, f, s=s: "–" if s[k] is None else format(s[k], f)  # noqa: E731
        lines.append(
            f"| {d['env']} | {fmt(s['test_return_half'])} | {fmt(s['test_return_full'])} | {off} | "
            f"{g('sampling_samples_per_s', '.0f')} | {g('overall_samples_per_s', '.0f')} | "
            f"{g('update_time_per_iter_s', '.2f')} | {g('sample_time_per_iter_s', '.2f')} |"
        )
    lines += ["", "Per seed (samples reached, wall time, test return at half / full / last):", ""]
    for d in res["tasks"].values():
        for seed, v in d["per_seed"].items():
            h, fu, la = (
                ("–" if x is None else f"{x:.0f}")
                for x in (v["test_return_half"], v["test_return_full"], v["last_test_return"])
            )
            lines.append(
                f"- {d['env']} seed {seed}: {v['samples']:,} samples, {v['wall_time_s'] / 60:.1f} min, "
                f"test {h} / {fu} / {la}"
            )
    with open(os.path.join(RESULTS, "awr_gym.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        sys.path.insert(0, REPO)
        from mimic.cli.plot import plot_runs

        for task in res["tasks"]:
            dirs = [run_dir(task, s) for s in res["seeds"] if os.path.isfile(os.path.join(run_dir(task, s), "log.csv"))]
            if dirs:
                plot_runs(
                    dirs,
                    os.path.join(RESULTS, f"awr_gym_{task}.png"),
                    labels=[task] * len(dirs),
                    title=f"AWR {TASKS[task]['env']}",
                )
    except Exception as e:
        print(f"plot failed: {e}", file=sys.stderr)


def main() -> int:
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--samples", type=int, default=1_000_000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--test_every", type=int, default=10)
    p.add_argument("--test_episodes", type=int, default=10)
    p.add_argument("--report_only", action="store_true")
    p.add_argument("--out", default=RESULTS, help="results folder (default bench/results)")
    a = p.parse_args()
    RESULTS = os.path.abspath(a.out)

    if not a.report_only:
        queue = [(t, s) for s in a.seeds for t in a.tasks]
        running: list[tuple[str, int, subprocess.Popen, Any]] = []
        t0 = time.time()
        while queue or running:
            while queue and len(running) < a.jobs:
                task, seed = queue.pop(0)
                os.makedirs(run_dir(task, seed), exist_ok=True)
                log = open(os.path.join(run_dir(task, seed), "stdout.log"), "a")
                proc = subprocess.Popen(
                    command(task, seed, a.samples, a), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
                )
                print(f"[{(time.time() - t0) / 60:6.1f} min] started {task} seed {seed} (pid {proc.pid})", flush=True)
                running.append((task, seed, proc, log))
            time.sleep(5)
            for item in list(running):
                task, seed, proc, log = item
                if proc.poll() is not None:
                    log.close()
                    running.remove(item)
                    print(
                        f"[{(time.time() - t0) / 60:6.1f} min] finished {task} seed {seed} (exit {proc.returncode})",
                        flush=True,
                    )
                    write_report(summarise(a.tasks, a.seeds, a.samples))
    res = summarise(a.tasks, a.seeds, a.samples)
    write_report(res)
    print(open(os.path.join(RESULTS, "awr_gym.md")).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
