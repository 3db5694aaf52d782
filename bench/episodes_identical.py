"""Seeded deterministic sampling gives bit-identical episodes in two source trees (issue 11).

    python bench/episodes_identical.py --ref /tmp/pre            # /tmp/pre: e.g. `git archive c52de38`
    python bench/episodes_identical.py --ref /tmp/pre --no_train   # samplers only

Each tree is run in its own subprocess (``PYTHONPATH=<tree>``) and dumps, with the same seeds:
* ``ParallelSampler(deterministic=True)`` collects on mimic/Humanoid-v0 (spinkick) in four layouts
  (2 workers x 2 envs pipelined, 1 x 4, 2 x 2 unpipelined, 2 x the default 16) and on CartPole
  (1 x 1, Discrete actions), three collects each, with a seeded random policy;
* ``SerialSampler`` over two humanoid envs, and over CartPole;
* unless ``--no_train``: a 3-iteration ``mimic.train`` run (2 workers x 2 envs,
  ``--deterministic_sampling``, ``--save_buffer``), whose model.pt holds the replay buffer and the
  weights.
Then every episode array, end flag, reward-term sum, sampler state and checkpoint tensor is
compared for exact equality.  The trees' compiled kernels must be the same (copy the *.so files).
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
HUMANOID, KW = "mimic/Humanoid-v0", {"motion": "humanoid3d_spinkick", "mode": "train"}
LAYOUTS = [(2, 2, True), (1, 4, True), (2, 2, False), (2, None, True)]
TRAIN = [
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
    "2",
    "--num_workers",
    "2",
    "--envs_per_worker",
    "2",
    "--deterministic_sampling",
    "--save_buffer",
    "--iters_per_checkpoint",
    "0",
    "--plot_every",
    "0",
    "--seed",
    "3",
    "--verbose",
    "0",
    "--max_iters",
    "3",
]


def _samplers():
    try:
        from mimic.sampling import ParallelSampler, SerialSampler
    except ImportError:  # the tree before issue 11
        from mimic.learning import SerialSampler
        from mimic.learning.parallel import ParallelSampler
    return ParallelSampler, SerialSampler


def _episodes(eps) -> list:
    return [(e.obs, e.actions, e.rewards, e.final_obs, e.terminated, e.truncated, dict(e.info)) for e in eps]


def _box_act(space, seed):
    rng = np.random.default_rng(seed)
    mean, half = (space.low + space.high) / 2, (space.high - space.low) / 2
    return lambda o: (mean + 0.3 * half * rng.standard_normal((len(o), mean.size))).astype(np.float32)


def _discrete_act(seed):
    rng = np.random.default_rng(seed)
    return lambda o: rng.integers(0, 2, len(o))


def dump(out: str, train: bool) -> None:
    import gymnasium as gym

    import mimic  # noqa: F401

    ParallelSampler, SerialSampler = _samplers()
    res = {}
    for workers, envs, pipeline in LAYOUTS:
        with ParallelSampler(
            HUMANOID,
            KW,
            num_workers=workers,
            envs_per_worker=envs,
            seed=11,
            pipeline=pipeline,
            deterministic=True,
            verbose=False,
        ) as ps:
            act, total, runs = _box_act(ps.action_space, 5), 0, []
            for _ in range(3):
                eps = ps.collect(act, min_samples=150, total_samples=total)
                total += sum(len(e) for e in eps)
                runs.append((_episodes(eps), ps.state_dict()))
            res[f"humanoid {workers}x{envs} pipeline={pipeline}"] = runs
    with ParallelSampler(
        "CartPole-v1", {}, num_workers=1, envs_per_worker=1, seed=4, pipeline=False, deterministic=True, verbose=False
    ) as ps:
        act = _discrete_act(2)
        res["cartpole 1x1"] = [(_episodes(ps.collect(act, min_samples=300)), ps.state_dict()) for _ in range(3)]
    envs = [gym.make(HUMANOID, **KW) for _ in range(2)]
    serial = SerialSampler(envs, seed=9)
    act = _box_act(envs[0].action_space, 6)
    res["serial humanoid x2"] = [
        (_episodes(serial.collect(act, min_samples=100)), serial.state_dict()) for _ in range(2)
    ]
    serial.close()
    serial = SerialSampler(gym.make("CartPole-v1"), seed=1)
    res["serial cartpole"] = [(_episodes(serial.collect(_discrete_act(3), min_samples=300)), serial.state_dict())]
    if train:
        import torch

        with tempfile.TemporaryDirectory() as d:
            from mimic.train import main

            assert main(TRAIN + ["--output_dir", os.path.join(d, "run")]) == 0
            s = torch.load(os.path.join(d, "run", "model.pt"), weights_only=True)
        s.pop("settings", None)
        s["counters"].pop("wall_time", None)
        res["train model.pt"] = _to_numpy(s)
    with open(out, "wb") as f:
        pickle.dump(res, f)


def _to_numpy(x):
    if hasattr(x, "numpy") and hasattr(x, "detach"):
        return x.detach().numpy()
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_numpy(v) for v in x]
    return x


def differences(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        same = (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
        return [] if same else [f"{path}: arrays differ"]
    return [] if type(a) is type(b) and a == b else [f"{path}: {a!r} vs {b!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="the other source tree (e.g. git archive of the old commit)")
    ap.add_argument("--tree", default=str(HERE), help="this tree (default: the one holding this script)")
    ap.add_argument("--no_train", action="store_true")
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dump:
        dump(args.dump, not args.no_train)
        return 0
    results = []
    with tempfile.TemporaryDirectory() as d:
        for i, tree in enumerate((args.ref, args.tree)):
            out = os.path.join(d, f"{i}.pkl")
            cmd = [sys.executable, os.path.abspath(__file__), "--ref", "-", "--dump", out]
            cmd += ["--no_train"] if args.no_train else []
            subprocess.run(cmd, env={**os.environ, "PYTHONPATH": tree}, cwd=tree, check=True)
            with open(out, "rb") as f:
                results.append(pickle.load(f))
    ref, new = results
    for name in ref:
        diff = differences(ref[name], new.get(name))
        n = sum(len(eps) for eps, _ in ref[name]) if name != "train model.pt" else None
        what = f"{n} episodes" if n is not None else "checkpoint tensors"
        print(f"{name:32s} {what:18s} {'identical' if not diff else 'DIFFERENT: ' + '; '.join(diff[:5])}")
    same = all(not differences(ref[k], new.get(k)) for k in ref)
    print("bit-identical" if same else "NOT bit-identical")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
