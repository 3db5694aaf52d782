"""Kill-and-resume: a humanoid run SIGKILLed again and again, each time continued with --resume,
must end bit-identical to the same run left alone (issue 14).

    python bench/kill_resume.py                 # 10+ kills, writes bench/results/kill_resume.{txt,json}
    python bench/kill_resume.py --kills 3 --iters 6 --out /tmp/kr   (what tests/test_kill_resume.py runs)

The run: mimic/Humanoid-v0 walking, 2 sampler workers x 2 envs with --deterministic_sampling,
--save_buffer, small nets, a test episode every 3 iterations.  One copy runs uninterrupted; the
other is started, killed with SIGKILL (the learner only: its workers must notice and exit) at a
random moment, resumed, killed again, ... and after the last kill resumed to the end.  The
moments are drawn in progress, not in seconds, so that a busy machine's slow start-ups do not
turn every kill into one before the first iteration: a cycle waits until the run has logged 0-3
more iterations (uniform), then a uniform 0-1.5 s more, and kills.  Every other kill then waits
for a checkpoint write to be under way (its ``.model.pt.tmp<pid>`` file exists) and kills in the
middle of it.  After every kill ``model.pt`` must load with torch.load(weights_only=True).
At the end the two ``model.pt`` are compared tensor by tensor (networks, optimisers, normaliser,
replay buffer, RNG states, counters; wall time and the output folder's name aside), and so are
their log rows (timing columns aside).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
RUN = [
    "--motion",
    "humanoid3d_walk",
    "--samples_per_iter",
    "128",
    "--actor_steps",
    "8",
    "--critic_steps",
    "8",
    "--actor_net_layers",
    "32",
    "16",
    "--critic_net_layers",
    "32",
    "16",
    "--test_episodes",
    "1",
    "--test_every",
    "3",
    "--num_workers",
    "2",
    "--envs_per_worker",
    "2",
    "--deterministic_sampling",
    "--save_buffer",
    "--iters_per_checkpoint",
    "2",
    "--plot_every",
    "0",
    "--seed",
    "3",
    "--verbose",
    "0",
]
TIMING = {"Wall_Time", "Sample_Time", "Update_Time", "Test_Time", "Collect_Time", "Samples_Per_Second"}
IGNORED = {"wall_time", "settings"}  # settings hold the output folder's path


def _start(out: Path, iters: int, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mimic.train"] + RUN + ["--max_iters", str(iters), "--output_dir", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        cmd + (["--resume"] if resume else []),
        env=env,
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _writing(out: Path, pid: int) -> bool:
    return (out / f".model.pt.tmp{pid}").exists()


def _rows_logged(out: Path) -> int:
    try:
        with open(out / "log.csv", newline="") as f:
            return max(0, sum(1 for row in csv.reader(f) if row) - 1)
    except OSError:
        return 0


def _kill_cycle(out: Path, iters: int, resume: bool, rng, in_write: bool) -> dict:
    """Start (or resume) the run, SIGKILL the learner at a random moment; what happened."""
    rows0 = _rows_logged(out) if resume else 0
    p = _start(out, iters, resume)
    t0 = time.monotonic()
    more, extra = int(rng.integers(0, 4)), float(rng.uniform(0.0, 1.5))
    t_ready = None
    hit_write = False
    while p.poll() is None:
        if t_ready is None and _rows_logged(out) >= rows0 + more:
            t_ready = time.monotonic()  # (0 more: as soon as it is up and running)
        if t_ready is not None and time.monotonic() - t_ready >= extra:
            if not in_write:
                break
            if _writing(out, p.pid):
                hit_write = True
                break
        time.sleep(0.0005 if t_ready is not None else 0.01)
    if p.poll() is not None:  # finished (or failed) before the kill
        err = p.stderr.read()
        if p.returncode != 0:
            raise SystemExit(f"run failed (exit {p.returncode}): {err.strip()}")
        return dict(killed=False, seconds=time.monotonic() - t0)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    t_kill = time.monotonic()
    while _group_alive(p.pid) and time.monotonic() - t_kill < 20:  # orphaned workers must exit
        time.sleep(0.05)
    orphans = _group_alive(p.pid)
    if orphans:
        os.killpg(p.pid, signal.SIGKILL)
    it = None
    if (out / "model.pt").exists():
        it = int(torch.load(out / "model.pt", weights_only=True)["counters"]["iteration"])  # must load
    return dict(
        killed=True,
        seconds=round(t_kill - t0, 2),
        in_write=hit_write,
        iteration_on_disk=it,
        workers_lingered=orphans,
        worker_exit_s=round(time.monotonic() - t_kill, 2),
    )


def _diff(a, b, path="") -> list[str]:
    if isinstance(a, dict):
        keys = (set(a) | set(b)) - IGNORED
        return [d for k in sorted(keys, key=str) for d in _diff(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    if isinstance(a, torch.Tensor):
        ok = isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if ok else [path]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def run(kills: int, iters: int, out: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    if out.exists():
        shutil.rmtree(out)
    straight, killed = out / "straight", out / "killed"
    t0 = time.monotonic()
    p = _start(straight, iters, resume=False)
    _, err = p.communicate()
    assert p.returncode == 0, err
    straight_s = time.monotonic() - t0
    cycles = []
    while len(cycles) < kills:
        c = _kill_cycle(killed, iters, resume=bool(cycles), rng=rng, in_write=len(cycles) % 2 == 1)
        cycles.append(c)
        if not c["killed"]:
            break  # finished before the kill (too few iterations)
    if cycles[-1]["killed"]:
        p = _start(killed, iters, resume=True)  # the last resume runs to the end
        _, err = p.communicate()
        assert p.returncode == 0, err
    a = torch.load(straight / "model.pt", weights_only=True)
    b = torch.load(killed / "model.pt", weights_only=True)
    diffs = _diff(a, b)
    rows_equal = _rows(straight / "log.csv") == _rows(killed / "log.csv")
    done = [c for c in cycles if c["killed"]]
    return dict(
        iterations=iters,
        kills=len(done),
        kills_in_write=sum(c["in_write"] for c in done),
        kills_before_first_checkpoint=sum(c["iteration_on_disk"] is None for c in done),
        workers_lingered=sum(c["workers_lingered"] for c in done),
        straight_seconds=round(straight_s, 1),
        checkpoint_differences=diffs[:20],
        bit_identical=not diffs,
        log_rows_equal=rows_equal,
        cycles=cycles,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/mimic_kill_resume")
    ap.add_argument("--results", default=str(REPO / "bench" / "results" / "kill_resume"))
    args = ap.parse_args(argv)
    res = run(args.kills, args.iters, Path(args.out), args.seed)
    lines = [
        f"kill-and-resume, humanoid walk, {res['iterations']} iterations, 2 workers x 2 envs, "
        f"--deterministic_sampling --save_buffer",
        f"SIGKILLs: {res['kills']} ({res['kills_in_write']} during a checkpoint write, "
        f"{res['kills_before_first_checkpoint']} before any checkpoint); model.pt loaded after every one",
        f"workers still alive 20 s after their learner was killed: {res['workers_lingered']}",
        f"final model.pt bit-identical to the uninterrupted run: {res['bit_identical']}"
        + ("" if res["bit_identical"] else f" (differences: {res['checkpoint_differences']})"),
        f"log.csv rows equal (timing columns aside): {res['log_rows_equal']}",
        f"uninterrupted run: {res['straight_seconds']} s",
    ]
    print("\n".join(lines))
    if args.results:
        Path(args.results + ".txt").write_text("\n".join(lines) + "\n")
        Path(args.results + ".json").write_text(json.dumps(res, indent=1) + "\n")
    return 0 if res["bit_identical"] and res["log_rows_equal"] and res["kills"] >= args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
