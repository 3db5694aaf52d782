#!/usr/bin/env python3
"""End-to-end training throughput: whole AWR iterations on spinkick at steady state.

Contenders, interleaved in a rotated order within each repeat, medians over --repeats:
* ``sync-1thread``: the paper's synchronous schedule with one learner thread throughout
  and both full-buffer critic passes (``schedule: sync, num_threads: 1, idle_threads: 1,
  reuse_values: false``) -- how mimic trained before this benchmark existed;
* ``default``: the agent file's own settings (args/agents/awr_imitation.yaml: ``overlap``,
  automatic thread counts, ``device: auto``);
* ``samplers-alone``: the same collects with no update at all -- the ceiling for end to end.

Steady state: every contender starts from the same pre-collected full buffer (--buffer samples,
collected once with the untrained policy), with the observation normaliser frozen as it is after
``normalizer_samples`` in a real run, and runs one untimed warm-up iteration, then --iters timed
ones.  Reported per contender:
* samples/s: new samples over the wall time of the timed iterations;
* update share: summed Update_Time over that wall time;
* CPU busy: CPU time (/proc, user + system) of the learner process and every sampler worker over
  wall time x cores -- the machine's utilisation by this job;
* FLOPs per new sample of the update (matrix multiplies of the nets, forward 2 per
  multiply-add, backward twice the forward) and the GFLOP/s the update achieved.
Targets (2-core machine, CPU only): default >= 1.6 x sync-1thread in the same run, CPU >= 90%.
The ratio is given of the medians and, less sensitive to load that changes between repeats, as
the median of the ratios within each repeat (the contenders of one repeat run back to back).

    python bench/train_throughput.py [--repeats 3] [--iters 5] [--workers 2] [--device cpu]
                                     [--json bench/results/train_throughput_2core.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.path.join(REPO, "args", "agents", "awr_imitation.yaml")
ENV_ID = "mimic/Humanoid-v0"
CONTENDERS = {
    "sync-1thread": {"schedule": "sync", "num_threads": 1, "idle_threads": 1, "reuse_values": False},
    "default": {},
    "samplers-alone": {},
}


def cpu_seconds(pids: list) -> float:
    """user + system CPU seconds of the given processes (all their threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, TypeError):
            pass
    return total


def update_flops(cfg, obs_dim: int, act_dim: int, buffer: int, new_samples: int, cached: bool) -> float:
    """Multiply-add FLOPs of one update: minibatch steps (forward + backward = 3 forwards) and the
    two full-buffer critic passes (the first reduced to the new samples with the value cache)."""

    def macs(layers, out):
        dims = [obs_dim] + list(layers) + [out]
        return sum(a * b for a, b in zip(dims[:-1], dims[1:]))

    scale = new_samples / cfg.samples_per_iter
    actor = 2 * macs(cfg.actor_net_layers, act_dim) * 3 * cfg.actor_batch_size * cfg.actor_steps * scale
    critic = 2 * macs(cfg.critic_net_layers, 1) * 3 * cfg.critic_batch_size * cfg.critic_steps * scale
    passes = 2 * macs(cfg.critic_net_layers, 1) * (buffer + (new_samples if cached else buffer))
    return actor + critic + passes


def make_agent(env, sampler, overrides: dict, prefill: list, steady_samples: int):
    from mimic.learning import AWR, AWRConfig
    from mimic.learning.config import load_yaml_mapping

    cfg = AWRConfig.from_dict({**load_yaml_mapping(AGENT), **overrides})
    agent = AWR(env, cfg, seed=0, sampler=sampler, verbose=0)
    agent.buffer.add(prefill)
    agent._record_normalizer(prefill)
    agent.normalizer_count = cfg.normalizer_samples  # frozen, as after normalizer_samples
    agent.total_samples = steady_samples
    return agent


def run_contender(name, agent, sampler, iters: int) -> dict:
    pids = [os.getpid()] + [p for p in sampler.worker_pids() if p]
    if name == "samplers-alone":
        agent.sync_collect_policy()
        agent.threads.use(1)  # as training's collect runs the policy
        step = lambda more: {
            "Samples": agent.total_samples
            + sum(  # noqa: E731
                len(e) for e in sampler.collect(agent.collect_act, agent.config.samples_per_iter)
            ),
            "Update_Time": 0.0,
        }
    else:
        step = lambda more: agent.train_iteration(more=lambda: more)  # noqa: E731
    step(True)  # warm-up, untimed
    s0, c0, t0 = agent.total_samples, cpu_seconds(pids), time.perf_counter()
    rows = [step(i < iters - 1) for i in range(iters)]
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pids) - c0
    agent.wait_for_collect()
    samples = (rows[-1]["Samples"] - s0) if name != "samplers-alone" else sum(r["Samples"] - s0 for r in rows)
    update = sum(r["Update_Time"] for r in rows)
    return {
        "samples_per_s": samples / wall,
        "update_share": update / wall,
        "cpu_busy": cpu / (wall * (os.cpu_count() or 1)),
        "update_s_per_iter": update / iters,
        "samples": samples,
        "wall": wall,
    }


def summarize(results: dict, flops: dict) -> list[str]:
    med = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in results.items()}
    lines = [f"{'contender':16s} {'samples/s':>10s} {'update share':>13s} {'CPU busy':>9s} {'update s/iter':>14s}"]
    for c, m in med.items():
        lines.append(
            f"{c:16s} {m['samples_per_s']:10.0f} {m['update_share']:13.2f} {m['cpu_busy']:9.2f}"
            f" {m['update_s_per_iter']:14.2f}"
        )
    base, new, ceiling = (med[c]["samples_per_s"] for c in CONTENDERS)
    lines.append(
        f"default / sync-1thread = {new / base:.2f}x (target >= 1.6); "
        f"default / samplers-alone = {new / ceiling:.2f}; "
        f"CPU busy (default) = {med['default']['cpu_busy']:.2f}"
    )
    paired = [d["samples_per_s"] / s["samples_per_s"] for d, s in zip(results["default"], results["sync-1thread"])]
    lines.append(
        f"paired (default / sync-1thread within each repeat): median {statistics.median(paired):.2f}x, "
        f"range {min(paired):.2f}-{max(paired):.2f}"
    )
    for c, f in flops.items():
        gflops = f["flops_per_iter"] / 1e9 / med[c]["update_s_per_iter"] if med[c]["update_s_per_iter"] else 0
        lines.append(
            f"{c}: update {f['flops_per_sample'] / 1e6:.0f} MFLOP per new sample, {gflops:.0f} GFLOP/s achieved"
        )
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per contender and repeat")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--envs_per_worker", type=int, default=16)
    ap.add_argument("--device", default=None, help="override the agent file's device (auto|cpu|cuda)")
    ap.add_argument("--buffer", type=int, default=None, help="pre-collected samples (default: buffer_size)")
    ap.add_argument("--steady_samples", type=int, default=300_000, help="total_samples at the steady state")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import gymnasium as gym

    import mimic  # noqa: F401
    from mimic.sampling import ParallelSampler

    if args.device:
        CONTENDERS["default"]["device"] = args.device
    kw = {"motion": "humanoid3d_spinkick", "mode": "train"}
    env = gym.make(ENV_ID, **kw)
    results = {c: [] for c in CONTENDERS}
    flops = {}
    t_start = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    with ParallelSampler(ENV_ID, kw, num_workers=args.workers, envs_per_worker=args.envs_per_worker, seed=0) as ps:
        seed_agent = make_agent(env, ps, {}, [], args.steady_samples)
        size = args.buffer or seed_agent.config.buffer_size
        seed_agent.sync_collect_policy()
        prefill = ps.collect(seed_agent.collect_act, min_samples=size, total_samples=args.steady_samples)
        print(f"prefilled {sum(len(e) for e in prefill)} samples in {len(prefill)} episodes", flush=True)
        names = list(CONTENDERS)
        for rep in range(args.repeats):
            for c in names[rep % len(names) :] + names[: rep % len(names)]:
                agent = make_agent(env, ps, CONTENDERS[c], prefill, args.steady_samples)
                r = run_contender(c, agent, ps, args.iters)
                results[c].append(r)
                print(
                    f"repeat {rep} {c:16s} {r['samples_per_s']:7.0f} samples/s, update share "
                    f"{r['update_share']:.2f}, CPU busy {r['cpu_busy']:.2f}",
                    flush=True,
                )
                if c != "samplers-alone":
                    new = r["samples"] / args.iters
                    cached = agent.config.reuse_values
                    f = update_flops(agent.config, agent.obs_dim, agent.act_dim, size, new, cached)
                    flops[c] = {"flops_per_iter": f, "flops_per_sample": f / new}
    lines = summarize(results, flops)
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "started": t_start,
                    "args": vars(args),
                    "cores": os.cpu_count(),
                    "results": results,
                    "flops": flops,
                    "summary": lines,
                    "loadavg_end": os.getloadavg(),
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
