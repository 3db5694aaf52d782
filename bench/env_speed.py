#!/usr/bin/env python3
"""Control steps per second of mimic/Humanoid-v0 and mimic/Dog-v0 against their raw-pybullet floors.

All contenders run in this one invocation, interleaved round by round so that machine noise hits
them alike, each as its own process (one pybullet world per process, as in training):

* ours  : gymnasium.make("mimic/Humanoid-v0", motion="humanoid3d_spinkick"), random actions
          (normalised N(0, 0.05), DeepMimic's exploration noise, the peer benches' default),
          reset on every episode end; training mode with full-length episodes (RSI, falls);
* ours_vec : the same task as gymnasium.make_vec(..., num_envs=--num_envs,
          vectorization_mode="vector_entry_point"): --num_envs characters, one pybullet world
          each, stepped in this one process (how a sampler worker runs it); same-step autoreset;
* peer  : ../shared/bench/peer_deepmimic_pybullet.py (the port's own RL-world loop);
* floor : ../shared/bench/raw_pybullet_floor.py (the same physics and stable-PD calls, nothing else);
* dog, dog_vec : the same two for gymnasium.make("mimic/Dog-v0", motion="dog_canter");
* dog_floor : bench/dog_floor.py, the dog's raw-pybullet floor (its physics, stable-PD calls and
          fall check, nothing else).

Each round times --steps control steps per contender after a warm-up; the figures are medians
over --rounds rounds. Prints the ratios ours/peer (target >= 4), ours/floor and dog/dog_floor
(target >= 0.8), and each env's mean reward per step under these random actions.

    python bench/env_speed.py [--rounds 5] [--steps 3000] [--profile] [--characters humanoid dog]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_BENCH = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))


ENVS = {"humanoid": ("mimic/Humanoid-v0", "humanoid3d_spinkick"), "dog": ("mimic/Dog-v0", "dog_canter")}


def ours(steps, warmup, seed, profile=False, num_envs=0, character="humanoid"):
    """Time our env in this process; returns (control steps/s, episodes, mean reward per step).
    num_envs > 0 times the vector env with that many characters (steps counts character steps)."""
    import gymnasium as gym
    import numpy as np

    import mimic  # noqa: F401  (registers the env)

    env_id, motion = ENVS[character]
    kw = dict(motion=motion, mode="train", anneal_samples=0)
    rng = np.random.default_rng(seed)
    reward = [0.0]
    if num_envs:
        env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kw)
        mean, std = env.action_norm
        acts = mean + std * 0.05 * rng.standard_normal((512, num_envs, len(mean)))
        acts = acts.astype(np.float32)
        env.reset(seed=seed)

        def run(n):
            episodes = 0
            for k in range(max(1, n // num_envs)):
                _, r, term, trunc, _ = env.step(acts[k % 512])
                episodes += int((term | trunc).sum())
                reward[0] += float(r.sum())
            return episodes
    else:
        env = gym.make(env_id, **kw)
        mean, std = env.unwrapped.action_norm
        acts = (mean + std * 0.05 * rng.standard_normal((4096, len(mean)))).astype(np.float32)
        env.reset(seed=seed)

        def run(n):
            episodes = 0
            for k in range(n):
                _, r, term, trunc, _ = env.step(acts[k % 4096])
                reward[0] += float(r)
                if term or trunc:
                    env.reset()
                    episodes += 1
            return episodes

    run(warmup)
    if profile:
        import cProfile
        import pstats

        cProfile.runctx("run(steps)", globals(), locals(), "/tmp/env_speed.prof")
        pstats.Stats("/tmp/env_speed.prof").sort_stats("tottime").print_stats(20)
    reward[0] = 0.0
    t0 = time.perf_counter()
    episodes = run(steps)
    el = time.perf_counter() - t0
    env.close()
    done = (steps // num_envs) * num_envs if num_envs else steps
    return done / el, episodes, reward[0] / done


def _harness(script: str, steps: int, warmup: int, seed: int) -> list:
    """The command line of one run of a peer or floor harness (they share these flags)."""
    return [sys.executable, script, "--steps", str(steps), "--warmup", str(warmup), "--reps", "1", "--seed", str(seed)]


def run_child(kind, steps, warmup, seed, num_envs):
    """(control steps/s, mean reward per step or None) of one contender, in its own process."""
    if kind in ("ours", "ours_vec", "dog", "dog_vec"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--steps",
            str(steps),
            "--warmup",
            str(warmup),
            "--seed",
            str(seed),
            "--num_envs",
            str(num_envs if kind.endswith("_vec") else 0),
            "--character",
            "dog" if kind.startswith("dog") else "humanoid",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rate, reward = re.findall(r"ours_steps_per_s=([\d.]+) .* mean_reward=([\d.]+)", out)[-1]
        return float(rate), float(reward)
    if kind == "dog_floor":
        cmd, pat = _harness(os.path.join(HERE, "dog_floor.py"), steps, warmup, seed), r"floor_steps_per_s=([\d.]+)"
    elif kind == "peer":
        script = os.path.join(SHARED_BENCH, "peer_deepmimic_pybullet.py")
        cmd, pat = _harness(script, max(steps // 4, 300), warmup // 2, seed), r"peer_steps_per_s=([\d.]+)"
    else:
        script = os.path.join(SHARED_BENCH, "raw_pybullet_floor.py")
        cmd, pat = _harness(script, steps, warmup, seed), r"floor_steps_per_s=([\d.]+)"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(re.findall(pat, out)[-1]), None


def contenders(characters, num_envs):
    out = []
    if "humanoid" in characters:
        out += ["floor", "ours"] + (["ours_vec"] if num_envs else []) + ["peer"]
    if "dog" in characters:
        out += ["dog_floor", "dog"] + (["dog_vec"] if num_envs else [])
    return out


def report(med, rewards, num_envs):
    """Print and return the ratios: ours over the peer and the floor, the dog over its floor."""
    ratios = {}
    for k, floor, peer in (
        ("ours", "floor", "peer"),
        ("ours_vec", "floor", "peer"),
        ("dog", "dog_floor", None),
        ("dog_vec", "dog_floor", None),
    ):
        if k not in med:
            continue
        label = k if not k.endswith("_vec") else "%s (%d characters, one process)" % (k, num_envs)
        ratios[k] = {"over_floor": med[k] / med[floor]}
        line = "%-40s" % label
        if peer:
            ratios[k]["over_peer"] = med[k] / med[peer]
            line += " / peer = %.2f (target >= 4)  " % ratios[k]["over_peer"]
        line += " / floor = %.2f (target >= 0.80)   mean reward %.3f" % (
            ratios[k]["over_floor"],
            statistics.median(rewards[k]),
        )
        print(line)
    if "peer" in med:
        print("peer / floor = %.2f" % (med["peer"] / med["floor"]))
    return ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3000, help="control steps per timing")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num_envs", type=int, default=8, help="characters in the vector-env contenders (0: skip them)")
    ap.add_argument("--characters", nargs="+", choices=sorted(ENVS), default=["humanoid", "dog"])
    ap.add_argument("--profile", action="store_true", help="cProfile our env once and exit")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--character", choices=sorted(ENVS), default="humanoid", help=argparse.SUPPRESS)
    o = ap.parse_args()

    if o.child or o.profile:
        rate, episodes, reward = ours(
            o.steps, o.warmup, o.seed, profile=o.profile, num_envs=o.num_envs if o.child else 0, character=o.character
        )
        print("ours_steps_per_s=%.1f episodes=%d mean_reward=%.4f" % (rate, episodes, reward))
        return
    if "humanoid" in o.characters and not os.path.isdir(SHARED_BENCH):
        sys.exit(f"{SHARED_BENCH} not found: the peer and floor harnesses live in ../shared/bench")

    kinds = contenders(o.characters, o.num_envs)
    rates = {k: [] for k in kinds}
    rewards = {k: [] for k in kinds}
    for r in range(o.rounds):
        for kind in kinds:
            rate, reward = run_child(kind, o.steps, o.warmup, o.seed + r, o.num_envs)
            rates[kind].append(rate)
            if reward is not None:
                rewards[kind].append(reward)
        print("round %d: " % r + "  ".join("%s %.0f" % (k, v[-1]) for k, v in rates.items()), flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        "\nmedian control steps/s over %d rounds (%d steps each): " % (o.rounds, o.steps)
        + ", ".join("%s %.0f" % (k, v) for k, v in med.items())
    )
    ratios = report(med, rewards, o.num_envs)
    if o.json:
        with open(o.json, "w") as f:
            json.dump(
                {
                    "rates": rates,
                    "median": med,
                    "ratios": ratios,
                    "rewards": rewards,
                    "num_envs": o.num_envs,
                    "steps": o.steps,
                    "rounds": o.rounds,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
