#!/usr/bin/env python3
"""Samples/s of ParallelSampler on the humanoid spinkick env with 1, 2, ..., N workers (issue #4).

One invocation, interleaved: every repeat runs every (workers, policy) contender once, in a
rotated order, so load from other jobs hits them alike; figures are medians over --repeats.

* env: mimic/Humanoid-v0, motion humanoid3d_spinkick, training mode as train.py runs it early
  on (0.5 s episodes = 15 steps + a seeded reset each; --anneal_samples 0 for full-length ones)
* policies: ``random`` -- a cheap batched act_fn (action mean + N(0, 0.05 * half range));
  ``awr`` -- AWR.act of the real agent (args/agents/awr_imitation.yaml: [1024, 512] nets,
  stochastic), i.e. what training pays for inference; the learner runs torch with 1 thread
* ``serial``: SerialSampler over one gym.make env in this process (train.py --num_workers 1)
* ``floor``: the physical ceiling -- N copies of ../shared/bench/raw_pybullet_floor.py (the same
  physics and stable-PD calls, nothing else, one world each) run at once, their summed rate over
  N times one copy's: how well this machine's cores run N pybullet worlds side by side at all
* efficiency(N) = rate(N) / (N * rate(1 worker)); target >= 0.9 at N = 2 on a 2-core machine
* whole iterations (--iterations): AWR.train_iteration with the N-worker sampler; its wall time
  over (its new samples / the N-worker awr rate measured above + its update time) -- 1.0 means no
  hidden serial step (target: within 15%)
* learner cost per sample: wall time of a collect minus the time the learner sat blocked waiting
  for workers, split into policy inference (act_fn) and coordination (pipes, decoding,
  episode bookkeeping), per sample; learner CPU = its process CPU time over the collect (act_fn
  counted by its wall time, ~ its CPU time) -- and the 16-64 core projection from these figures.

    python bench/sampler_scaling.py [--workers 1 2] [--envs_per_worker 4] [--samples 3000]
                                    [--repeats 5] [--policies random awr] [--json out.json]

Keep this module's top level light: worker processes ('spawn') re-import it.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

ENV_ID = "mimic/Humanoid-v0"
FLOOR = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench", "raw_pybullet_floor.py")
)


def floor_rate(n: int, steps: int) -> float:
    """Summed control steps/s of n raw-floor processes running at once (started together)."""
    procs = [
        subprocess.Popen(
            [sys.executable, FLOOR, "--steps", str(steps), "--warmup", "200", "--reps", "1", "--seed", str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for i in range(n)
    ]
    total = 0.0
    for p in procs:
        out, _ = p.communicate()
        m = re.search(r"floor_steps_per_s=([0-9.]+)", out)
        if p.returncode or not m:
            raise RuntimeError(f"{FLOOR} failed (exit {p.returncode}): {out[-300:]}")
        total += float(m.group(1))
    return total


NULL_ID = "bench/NullHumanoid-v0"


class NullHumanoid(gym.Env):
    """The humanoid's observation / action sizes and 0.5 s episodes, no simulation: with it the
    sampler is learner-bound, so its rate is the learner's capacity (coordination + act_fn)."""

    def __init__(self, obs_dim=197, act_dim=36, episode_steps=15):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
        self.n, self.t, self.obs = episode_steps, 0, np.zeros(obs_dim, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.obs.copy(), {}

    def step(self, action):
        self.t += 1
        return self.obs.copy(), 1.0, False, self.t >= self.n, {}


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def parse_args(argv=None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=list(range(1, cores + 1)))
    ap.add_argument("--envs_per_worker", type=int, default=16)
    ap.add_argument("--samples", type=int, default=3000, help="min_samples per collect")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--policies", nargs="+", default=["random", "awr"], choices=["random", "awr"])
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["async", "det"],
        choices=["async", "det", "lock"],
        help="async: pipelined workers (2 env groups each), replies handled as they come (the "
        "default); det: pipelined, deterministic lockstep rounds; lock: lockstep, no pipelining",
    )
    ap.add_argument("--no_serial", action="store_true", help="skip the in-process SerialSampler contender")
    ap.add_argument("--anneal_samples", type=float, default=None, help="env kwarg (0: full-length episodes)")
    ap.add_argument("--motion", default="humanoid3d_spinkick")
    ap.add_argument("--project", type=int, nargs="+", default=[16, 32, 64], help="core counts to project to")
    ap.add_argument(
        "--capacity_workers",
        type=int,
        nargs="*",
        default=[2, 8, 16, 32, 64],
        help="learner capacity: worker counts on the no-physics env (0 values: skip)",
    )
    ap.add_argument("--capacity_samples", type=int, default=20000)
    ap.add_argument(
        "--floor_steps",
        type=int,
        default=2000,
        help="control steps per raw-floor process (0: skip the floor contender)",
    )
    ap.add_argument(
        "--iterations",
        type=int,
        default=0,
        help="AWR training iterations to time with the largest worker count (needs policy awr)",
    )
    ap.add_argument("--json", default=None)
    return ap.parse_args(argv)


@dataclass
class Setup:
    """What every phase shares: the env, the policies and the samplers built once up front."""

    args: argparse.Namespace
    kw: dict  # env kwargs, for gym.make and the workers
    env: gym.Env
    cfg: Any  # AWRConfig of args/agents/awr_imitation.yaml
    agent: Any  # AWR whose act is the ``awr`` policy
    random_act: Callable
    policies: dict  # name -> act_fn
    samplers: dict  # (workers, mode) -> ParallelSampler
    serial: Any  # SerialSampler, or None with --no_serial


def make_random_act(action_space) -> Callable:
    """The ``random`` policy: action mean + N(0, 0.05 * half range), batched, seeded."""
    low, high = action_space.low, action_space.high
    mean, half = (low + high) / 2, (high - low) / 2
    rng = np.random.default_rng(0)

    def random_act(obs):
        return (mean + 0.05 * half * rng.standard_normal((len(obs), mean.size))).astype(np.float32)

    return random_act


def build(args: argparse.Namespace) -> Setup:
    """The env, both policies and a ParallelSampler per (workers, mode) (+ the serial one); prints the header."""
    import torch

    import mimic  # noqa: F401
    from mimic.learning import AWR, AWRConfig
    from mimic.sampling import ParallelSampler, SerialSampler

    torch.set_num_threads(1)
    kw = {"motion": args.motion, "mode": "train"}
    if args.anneal_samples is not None:
        kw["anneal_samples"] = args.anneal_samples
    env = gym.make(ENV_ID, **kw)
    random_act = make_random_act(env.action_space)
    cfg = AWRConfig.from_yaml(os.path.join(os.path.dirname(__file__), "..", "args", "agents", "awr_imitation.yaml"))
    agent = AWR(env, cfg, seed=0, verbose=0)
    torch.set_num_threads(1)
    policies = {"random": random_act, "awr": agent.act}

    print(
        f"# sampler_scaling: {ENV_ID} {kw}, K={args.envs_per_worker} envs/worker, "
        f"{args.samples} samples/collect, {args.repeats} repeats, {os.cpu_count() or 1} cores",
        flush=True,
    )
    print(f"# load average at start: {loadavg()}", flush=True)
    t0 = time.perf_counter()
    samplers = {}
    for n in args.workers:
        for mode in args.modes:
            samplers[n, mode] = ParallelSampler(
                ENV_ID,
                kw,
                num_workers=n,
                envs_per_worker=args.envs_per_worker,
                seed=n,
                pipeline=(mode != "lock"),
                deterministic=(mode != "async"),
                verbose=True,
            )
    serial = None if args.no_serial else SerialSampler(gym.make(ENV_ID, **kw), seed=0)
    print(f"# started {sum(args.workers) * len(args.modes)} workers in {time.perf_counter() - t0:.1f} s", flush=True)
    return Setup(args, kw, env, cfg, agent, random_act, policies, samplers, serial)


def make_contenders(s: Setup) -> list:
    """(workers, mode, policy) per ParallelSampler run, ("serial", "", policy), ("floor", N, "")."""
    args = s.args
    contenders = [(n, mode, p) for n in args.workers for mode in args.modes for p in args.policies]
    if s.serial is not None:
        contenders += [("serial", "", p) for p in args.policies]
    if args.floor_steps and os.path.exists(FLOOR):
        contenders += [("floor", n, "") for n in args.workers]
    elif args.floor_steps:
        print(f"# no floor contender: {FLOOR} not found", flush=True)
    return contenders


def run_contender(s: Setup, c: tuple, samples: int) -> dict:
    """One collect of contender c (or one floor run): its rate and, for a ParallelSampler, its costs."""
    n, mode, p = c
    if n == "floor":
        return {"rate": floor_rate(mode, s.args.floor_steps if samples == s.args.samples else 300)}
    sampler = s.serial if n == "serial" else s.samplers[n, mode]
    t = time.perf_counter()
    eps = sampler.collect(s.policies[p], min_samples=samples, total_samples=0)
    wall = time.perf_counter() - t
    got = sum(len(e) for e in eps)
    row = {"rate": got / wall, "samples": got, "wall": wall}
    if n != "serial":
        st = sampler.last_stats
        busy = st.time - st.wait_time
        row.update(
            rounds=st.rounds,
            act_us=1e6 * st.act_time / got,
            coord_us=1e6 * st.coord_time / got,
            busy_us=1e6 * busy / got,
            cpu_us=1e6 * st.learner_cpu / got,
            coord_cpu_us=1e6 * st.coord_cpu / got,
            coord_cpu_round_us=1e6 * st.coord_cpu / max(1, st.rounds),
            env_us=1e6 * st.env_time / got,
            env_cpu_us=1e6 * st.env_cpu / got,
            env_busy=st.env_time / (n * wall),
            restarts=st.worker_restarts,
        )
    return row


def run_interleaved(s: Setup, contenders: list) -> dict:
    """A warm-up collect per contender, then --repeats rounds of all of them in a rotated order."""
    results = {c: [] for c in contenders}
    for c in contenders:  # warm-up (worlds built, caches hot)
        run_contender(s, c, min(600, s.args.samples))
    for rep in range(s.args.repeats):
        order = contenders[rep % len(contenders) :] + contenders[: rep % len(contenders)]
        for c in order:
            results[c].append(run_contender(s, c, s.args.samples))
        print(f"# repeat {rep + 1}/{s.args.repeats} done, load {loadavg()}", flush=True)
    return results


def medians(results: dict) -> dict:
    return {c: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for c, rows in results.items()}


def paired_efficiency(results: dict) -> dict:
    """Each repeat's N-worker rate over the 1-worker rate of the SAME repeat (measured seconds apart),
    median over repeats -- slow spells of a shared machine then cancel out."""
    paired = {}
    for c, rows in results.items():
        n, mode, p = c
        if n == "floor" and ("floor", 1, "") in results:
            paired[c] = statistics.median(r["rate"] / (mode * b["rate"]) for r, b in zip(rows, results["floor", 1, ""]))
        elif n not in ("serial", "floor") and (1, mode, p) in results:
            paired[c] = statistics.median(r["rate"] / (n * b["rate"]) for r, b in zip(rows, results[1, mode, p]))
    return paired


def sampler_row(args: argparse.Namespace, c: tuple, med: dict, paired: dict) -> str:
    """The table line of a ParallelSampler or serial contender."""
    m = med[c]
    n, mode, p = c
    if n == "serial":
        return f"{'serial/' + p:>20} {m['rate']:10.1f}"
    base = med.get((1, mode, p), {}).get("rate")
    eff = m["rate"] / (n * base) if base else float("nan")
    return (
        f"{f'{n}w x{args.envs_per_worker} {mode}/' + p:>20} {m['rate']:10.1f} {eff:6.3f} "
        f"{paired.get(c, float('nan')):6.3f}"
        f" {m['env_busy']:5.2f} |"
        f" {m['busy_us']:22.1f} {m['act_us']:6.1f} {m['coord_us']:6.1f} |"
        f" {m['cpu_us']:21.1f} {m['act_us']:6.1f} {m['coord_cpu_us']:6.1f} |"
        f" {m['coord_cpu_round_us']:17.1f} | {m['env_us']:18.1f} {m['env_cpu_us']:6.1f}"
    )


def print_table(args: argparse.Namespace, contenders: list, med: dict, paired: dict) -> None:
    """Floor rows, then each policy's sampler rows; then the largest N's efficiency relative to the floor's."""
    print(
        f"\n{'contender':>20} {'samples/s':>10} {'eff':>6} {'paired':>6} {'busy':>5} | "
        f"learner wall us/sample {'act':>6} {'coord':>6}"
        f" | learner CPU us/sample {'act':>6} {'coord':>6} | coord CPU us/round | env us/sample wall {'CPU':>6}"
    )
    for c in contenders:
        if c[0] == "floor":
            m, n = med[c], c[1]
            base = med["floor", 1, ""]["rate"]
            print(
                f"{f'floor x{n} at once':>20} {m['rate']:10.1f} {m['rate'] / (n * base):6.3f} {paired[c]:6.3f}"
                f"   (raw pybullet, one world per process: the machine's own scaling)"
            )
    for p in args.policies:
        for c in contenders:
            if c[2] == p and c[0] != "floor":
                print(sampler_row(args, c, med, paired))
    print(
        "  (eff = median rate(N) / (N * median rate(1 worker, same mode)); paired = median over repeats of the same"
        " ratio within one repeat; busy = fraction of wall time the workers spent stepping/resetting)"
    )
    if ("floor", nmax_w := max(args.workers), "") in paired and nmax_w > 1:
        print(
            f"# efficiency at N={nmax_w} relative to the floor's (paired): "
            + ", ".join(
                f"{mode}/{p} {paired[nmax_w, mode, p] / paired['floor', nmax_w, '']:.3f}"
                for mode in args.modes
                for p in args.policies
            )
        )


def learner_capacity(args: argparse.Namespace, random_act: Callable) -> dict:
    """Many workers on the no-physics env (they barely use CPU): the learner's own samples/s and CPU."""
    from mimic.sampling import ParallelSampler

    cap_rows = {}
    if not args.capacity_workers:
        return cap_rows
    gym.register(NULL_ID, entry_point=NullHumanoid)
    print(
        f"\n# learner capacity (no physics, K={args.envs_per_worker}, random act_fn, "
        f"{args.capacity_samples} samples x 3, load {loadavg()}):"
    )
    print(
        f"{'workers':>8} {'slots':>6} {'samples/s':>10} {'learner wall us/sample':>23} {'CPU us/sample':>14}"
        f" {'CPU us/round':>13} {'per worker-round':>17}"
    )
    for n in args.capacity_workers:
        with ParallelSampler(NULL_ID, {}, num_workers=n, envs_per_worker=args.envs_per_worker, seed=0) as ps:
            ps.collect(random_act, min_samples=2000)
            rows = []
            for _ in range(3):
                ps.collect(random_act, min_samples=args.capacity_samples)
                st = ps.last_stats
                rows.append((st.samples / st.time, st.learner_cpu / st.samples, st.learner_cpu / st.rounds))
        rate, cpu, cpu_round = (statistics.median(r[i] for r in rows) for i in range(3))
        cap_rows[n] = {"rate": rate, "cpu_us": 1e6 * cpu, "cpu_round_us": 1e6 * cpu_round}
        print(
            f"{n:8d} {n * args.envs_per_worker:6d} {rate:10.0f} {1e6 / rate:23.1f} {1e6 * cpu:14.1f}"
            f" {1e6 * cpu_round:13.0f} {1e6 * cpu_round / n:17.1f}"
        )
    return cap_rows


def act_cpu_per_sample(agent, batch: int, obs_dim: int) -> float:
    """Median process CPU time of agent.act on a batch of random observations, per sample (7 calls)."""
    o = np.random.default_rng(0).standard_normal((batch, obs_dim)).astype(np.float32)
    agent.act(o)
    ts = []
    for _ in range(7):
        t = time.process_time()
        agent.act(o)
        ts.append(time.process_time() - t)
    return statistics.median(ts) / batch


def print_projection(s: Setup, med: dict, cap_rows: dict) -> None:
    """Projection to big machines (CPU-time figures = what a dedicated core costs).

    Lockstep round: workers step K envs in parallel (K * t_env), then the learner's serial part for
    all N*K slots: rate(N) = N*K / (K*t_env + N*K*(l_coord + l_act(N*K))); learner capacity 1/l."""
    args = s.args
    print(
        "\n# projection to N cores (CPU-time figures; l(N) = learner CPU per sample = coordination measured above at"
        " N workers + act_fn at batch N*K):\n#   lockstep  rate = N*K / (K*t_env + N*K*l)   (workers wait while the"
        " learner works)\n#   pipelined rate = min(N / t_env, 1 / l)       (learner overlapped; needs a core of"
        " its own)"
    )
    K = args.envs_per_worker
    nmax = max(args.workers)
    for p in args.policies:
        m = med[(nmax, args.modes[0], p)]
        t_env = m["env_cpu_us"] * 1e-6
        for n in args.project:
            batch = n * K
            # learner-bound measurement at this N (random act_fn included), else the humanoid run's
            l_coord = cap_rows[n]["cpu_us"] * 1e-6 if n in cap_rows else m["cpu_us"] * 1e-6
            l_act = act_cpu_per_sample(s.agent, batch, s.env.observation_space.shape[0]) if p == "awr" else 0.0
            l = l_coord + l_act
            rate = n * K / (K * t_env + n * K * l)
            pipe = min(n / t_env, 1 / l)
            print(
                f"  {p:>6} N={n:3d}: workers {n / t_env:8,.0f}/s (t_env {t_env * 1e6:.0f} us/sample); learner"
                f" {1e6 * l:5.1f} us/sample (coord {1e6 * l_coord:.1f} + act {1e6 * l_act:.1f} at batch {batch})"
                f" = capacity {1 / l:8,.0f}/s; lockstep {rate:8,.0f}/s (eff {rate * t_env / n:.2f}),"
                f" pipelined {pipe:8,.0f}/s (eff {pipe * t_env / n:.2f})"
            )


def whole_iterations(s: Setup, med: dict) -> list:
    """--iterations AWR.train_iteration calls on the largest sampler: wall time vs sampling + update time."""
    import torch

    from mimic.learning import AWR

    args, iter_rows = s.args, []
    if not (args.iterations and "awr" in args.policies):
        return iter_rows
    nmax, mode = max(args.workers), args.modes[0]
    rate = med[(nmax, mode, "awr")]["rate"]
    trainer = AWR(s.env, s.cfg, seed=0, verbose=0, sampler=s.samplers[nmax, mode])
    torch.set_num_threads(1)
    print(
        f"\n# whole iterations: AWR.train_iteration, {nmax} workers ({mode}), {s.cfg.samples_per_iter} samples"
        f"/iter; predicted = new samples / {rate:.0f} (the {nmax}-worker awr rate above) + update time"
    )
    print(f"{'iter':>5} {'wall s':>7} {'sample s':>8} {'update s':>8} {'samples':>8} {'predicted s':>11} {'ratio':>6}")
    before = 0
    for i in range(args.iterations):
        t = time.perf_counter()
        row = trainer.train_iteration()
        wall = time.perf_counter() - t
        new = row["Samples"] - before
        before = row["Samples"]
        pred = new / rate + row["Update_Time"]
        iter_rows.append(
            {
                "wall": wall,
                "sample_time": row["Sample_Time"],
                "update_time": row["Update_Time"],
                "samples": new,
                "predicted": pred,
                "ratio": wall / pred,
            }
        )
        print(
            f"{i:5d} {wall:7.2f} {row['Sample_Time']:8.2f} {row['Update_Time']:8.2f} {new:8d} {pred:11.2f}"
            f" {wall / pred:6.3f}",
            flush=True,
        )
    return iter_rows


def write_json(path: str, args, results: dict, med: dict, paired: dict, cap_rows: dict, iter_rows: list) -> None:
    with open(path, "w") as f:
        json.dump(
            {
                "args": vars(args),
                "load_end": loadavg(),
                "results": {"/".join(map(str, c)): rows for c, rows in results.items()},
                "medians": {"/".join(map(str, c)): m for c, m in med.items()},
                "paired_efficiency": {"/".join(map(str, c)): e for c, e in paired.items()},
                "capacity": cap_rows,
                "iterations": iter_rows,
            },
            f,
            indent=1,
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    s = build(args)
    contenders = make_contenders(s)
    results = run_interleaved(s, contenders)
    med = medians(results)
    paired = paired_efficiency(results)
    print_table(args, contenders, med, paired)
    cap_rows = learner_capacity(args, s.random_act)
    print_projection(s, med, cap_rows)
    iter_rows = whole_iterations(s, med)
    print(f"# load average at end: {loadavg()}")
    if args.json:
        write_json(args.json, args, results, med, paired, cap_rows, iter_rows)
    for sampler in s.samplers.values():
        sampler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
