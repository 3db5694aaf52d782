#!/usr/bin/env python3
"""How deep a policy's character sinks into the ground, and how long its test episodes last, at
several physics rates: the same deterministic test episodes (episode i reset with seed + i, as
mimic/eval.py runs them) with the checkpoint's own test environment, only ``sim_rate`` changed.

    python bench/foot_contact.py --model pretrained/humanoid_walk.pt --rates 240 480 1200 \
        [--episodes 128 --seed 32 | --seeds 34 73 150] [--json FILE]

Per rate: mean episode seconds, full-length episodes, falls, and the deepest ground penetration
of each episode (median and max over episodes, mm), with the ratio of the median to the first
rate's. Rates other than the training one are a changed environment for the policy: this
measures the contact, not a policy trained for that rate.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def episode(env, agent, seed):
    """(steps, fallen, deepest penetration in m) of one deterministic test episode."""
    u = env.unwrapped
    obs, _ = env.reset(seed=seed)
    steps, deepest = 0, 0.0
    while True:
        obs, _, terminated, truncated, info = env.step(agent.predict(obs, deterministic=True)[0])
        steps += 1
        deepest = max(deepest, u.sim.ground_penetration())
        if terminated or truncated:
            return steps, bool(info.get("fallen", False)), deepest


def measure(model, agent, info, rate, seeds):
    """The figures of ``seeds``' episodes at ``rate`` Hz (agent, info: mimic.rebuild.load_agent's)."""
    from mimic.rebuild import make_env

    env = make_env(model, info, agent, env_kwargs={"sim_rate": float(rate)})
    try:
        eps = [episode(env, agent, s) for s in seeds]
        dt = env.unwrapped.control_dt
        full = round(env.unwrapped.task.time_limit / dt)  # steps of a full test episode
    finally:
        env.close()
    steps = np.array([e[0] for e in eps])
    depth = np.array([e[2] for e in eps]) * 1000.0
    return dict(
        sim_rate=float(rate),
        episode_seconds_mean=float(steps.mean() * dt),
        full_episodes=int((steps >= full).sum()),
        falls=int(sum(e[1] for e in eps)),
        penetration_mm_median=float(np.median(depth)),
        penetration_mm_max=float(depth.max()),
        per_episode=[
            dict(seed=s, steps=int(e[0]), fallen=e[1], penetration_mm=float(d)) for s, e, d in zip(seeds, eps, depth)
        ],
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--rates", type=float, nargs="+", default=[240.0, 480.0, 1200.0])
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="these episode seeds instead")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    import torch

    from mimic.rebuild import load_agent

    torch.set_num_threads(1)
    agent, info = load_agent(a.model)
    seeds = a.seeds or list(range(a.seed, a.seed + a.episodes))
    rows = []
    print(f"{a.model}: {len(seeds)} test episodes per physics rate")
    head = ("sim_rate", "seconds", "full", "falls", "median mm", "max mm", "median/first")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (8, 8, 5, 5, 10, 7, 12))))
    for rate in a.rates:
        r = measure(a.model, agent, info, rate, seeds)
        rows.append(r)
        ratio = r["penetration_mm_median"] / max(rows[0]["penetration_mm_median"], 1e-9)
        print(
            f"{rate:8.0f} {r['episode_seconds_mean']:8.2f} {r['full_episodes']:5d} {r['falls']:5d} "
            f"{r['penetration_mm_median']:10.1f} {r['penetration_mm_max']:7.1f} {ratio:12.2f}",
            flush=True,
        )
    if a.json:
        Path(a.json).write_text(json.dumps(dict(model=a.model, seeds=seeds, rates=rows), indent=1) + "\n")


if __name__ == "__main__":
    main()
