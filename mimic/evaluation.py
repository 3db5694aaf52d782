"""Judging a skill: deterministic test episodes of a trained policy, with figures.

The front end is ``mimic-eval`` (mimic/cli/eval.py):

    python mimic/eval.py --model output/spinkick/model.pt --episodes 32 [--seed 0] [--json F]
    python mimic/view.py --model output/spinkick/model.pt --episodes 32 --no_render   (the same)

Each episode is a test-mode episode of the environment the checkpoint was trained on
(``mode="test"``: up to 20 s, reference-state initialisation at a random clip time) driven by the
policy mean; episode i is reset with seed ``seed + i``, so the figures are reproducible.
Reported: return (mean, std), normalised return (return / the env's ``max_episode_return``,
600 for 20 s at 30 Hz), episode length, fall rate (episodes ending with ``info["fallen"]``), the
sim-unstable rate (episodes ended by non-finite physics, ``info["sim_unstable"]``: not falls, but
failures too, so ``failure_rate`` counts both), and
the pose error: the DiffWeight-weighted mean angle between the simulated and the reference joint
rotations (root: world orientation; joints: local), in degrees, averaged over every control step,
and where in the clip failed episodes end (``failures_by_clip_time``: counts over CLIP_BINS equal
spans of the clip; each episode's start and end clip time are in ``per_episode``).
Without ``--model`` the clip is played kinematically (a sanity check: normalised return ~1 for a
looping clip, pose error ~0).
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
from tqdm import tqdm

from mimic.kinematics.rotations import quat_conj_mul_batch
from mimic.sim.link_state import JOINT_ROT


class PoseError:
    """DiffWeight-weighted mean joint angle error (radians) of an imitation env's current state.

    Local joint rotations of the simulated character come from ``env.unwrapped.sim.query()``
    (joint-frame world rotations, ``S[:, JOINT_ROT]``, composed with the parent's inverse; the root
    keeps its world rotation), the reference from ``env.unwrapped.reference_state()``.
    """

    def __init__(self, character):
        J = character.num_joints
        w = np.asarray(character.diff_weights, np.float64)
        self.weights = w / w.sum() if w.sum() > 0 else np.full(J, 1.0 / J)
        self.parents = np.asarray(character.parents)
        self.root = self.parents < 0
        self.parent_rows = np.where(self.root, 0, self.parents)

    def local_rotations(self, S: np.ndarray) -> np.ndarray:
        world = S[:, JOINT_ROT]
        local = quat_conj_mul_batch(world[self.parent_rows], world)
        local[self.root] = world[self.root]
        return local

    def angles(self, S: np.ndarray, ref_local_rot: np.ndarray) -> np.ndarray:
        """Per-joint angle (radians) between the simulated and reference local rotations."""
        q = self.local_rotations(S)
        cos_half = np.abs(np.einsum("ij,ij->i", q, ref_local_rot))
        cos_half /= np.linalg.norm(q, axis=1) * np.linalg.norm(ref_local_rot, axis=1)
        return 2.0 * np.arccos(np.minimum(cos_half, 1.0))

    def __call__(self, u) -> float:
        """Weighted mean joint angle error (radians) of an ImitationEnv (``env.unwrapped``)."""
        S = u.sim.query()
        _, ref_local_rot, _ = u.reference_state()
        return float(self.weights @ self.angles(S, ref_local_rot))


def pose_error_deg(env) -> float:
    """DiffWeight-weighted mean joint angle error of an imitation env's current state, degrees."""
    u = env.unwrapped
    return math.degrees(PoseError(u.character)(u))


CLIP_BINS = 8  # spans of the clip that failures are counted in


def _clip_time(u):
    """The env's time in its clip (seconds in [0, duration)), or None for envs without a clip."""
    clip = getattr(u, "clip", None)
    return float(u.time) % clip.duration if clip is not None and hasattr(u, "time") else None


def run_episodes(env, act, episodes: int, seed: int = 0, progress=None) -> list:
    """``episodes`` episodes with ``act(obs) -> action``; episode i reset with seed + i.
    Returns per-episode dicts: return, steps, seconds, fallen, pose_error_deg, start / end clip time."""
    u = env.unwrapped
    pose = PoseError(u.character) if hasattr(u, "reference_state") else None
    out = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        start = _clip_time(u)
        ret, steps, err_sum, fallen, unstable = 0.0, 0, 0.0, False, False
        while True:
            obs, r, terminated, truncated, info = env.step(act(obs))
            ret += float(r)
            steps += 1
            if pose is not None:
                err_sum += pose(u)
            if terminated or truncated:
                fallen = bool(info.get("fallen", False))
                unstable = bool(info.get("sim_unstable", False))
                break
        dt = getattr(u, "control_dt", None)
        out.append(
            dict(
                episode=i,
                seed=seed + i,
                ret=ret,
                steps=steps,
                seconds=steps * dt if dt else None,
                fallen=fallen,
                sim_unstable=unstable,
                pose_error_sum=err_sum if pose is not None else None,
                start_clip_s=start,
                end_clip_s=_clip_time(u),
            )
        )
        if progress is not None:
            progress(i + 1)
    return out


def summarize(eps: list, max_return=None, duration=None) -> dict:
    """The figures of run_episodes' episodes; ``duration``: the clip's, for failures_by_clip_time."""
    rets = np.array([e["ret"] for e in eps])
    steps = np.array([e["steps"] for e in eps])
    res = dict(
        episodes=len(eps),
        return_mean=float(rets.mean()),
        return_std=float(rets.std()),
        return_min=float(rets.min()),
        return_max=float(rets.max()),
        max_episode_return=float(max_return) if max_return else None,
        episode_steps_mean=float(steps.mean()),
        fall_rate=float(np.mean([e["fallen"] for e in eps])),
        falls=int(sum(e["fallen"] for e in eps)),
        sim_unstable_rate=float(np.mean([e["sim_unstable"] for e in eps])),
        sim_unstable=int(sum(e["sim_unstable"] for e in eps)),
    )
    res["failure_rate"] = (res["falls"] + res["sim_unstable"]) / len(eps)  # either ends an episode
    if max_return:
        res["normalized_return_mean"] = res["return_mean"] / max_return
        res["normalized_return_std"] = res["return_std"] / max_return
    secs = [e["seconds"] for e in eps]
    res["episode_seconds_mean"] = float(np.mean(secs)) if None not in secs else None
    if eps[0]["pose_error_sum"] is not None:
        total = sum(e["pose_error_sum"] for e in eps)
        res["pose_error_deg"] = math.degrees(total / max(1, int(steps.sum())))
    else:
        res["pose_error_deg"] = None
    res["failures_by_clip_time"] = _failures_by_clip_time(eps, duration)
    res["per_episode"] = [
        dict(
            seed=e["seed"],
            ret=e["ret"],
            steps=e["steps"],
            fallen=e["fallen"],
            sim_unstable=e["sim_unstable"],
            pose_error_deg=(
                math.degrees(e["pose_error_sum"] / max(1, e["steps"])) if e["pose_error_sum"] is not None else None
            ),
            start_clip_s=e.get("start_clip_s"),
            end_clip_s=e.get("end_clip_s"),
        )
        for e in eps
    ]
    return res


def _failures_by_clip_time(eps: list, duration) -> list:
    """Per CLIP_BINS equal span of the clip: [from s, to s, failed episodes that ended in it]; []
    without a clip."""
    if not duration or eps[0].get("end_clip_s") is None:
        return []
    ends = [e["end_clip_s"] for e in eps if e["fallen"] or e["sim_unstable"]]
    counts, edges = np.histogram(ends, bins=CLIP_BINS, range=(0.0, duration))
    return [[float(edges[b]), float(edges[b + 1]), int(counts[b])] for b in range(CLIP_BINS)]


def evaluate(
    model=None, motion=None, episodes: int = 32, seed: int = 0, progress: bool = False, env_kwargs=None
) -> dict:
    """Evaluate a checkpoint (or, without one, a clip played kinematically); returns the figures
    (see the module doc). Raises mimic.rebuild.RebuildError for unusable files."""
    from mimic.rebuild import load_agent, make_env

    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, not {episodes}")
    agent, info = load_agent(model) if model is not None else (None, None)
    env = make_env(model, info, agent, motion=motion, env_kwargs=env_kwargs)
    try:
        u = env.unwrapped
        if agent is not None:
            import torch

            torch.set_num_threads(1)
            act = lambda o: agent.predict(o, deterministic=True)[0]  # noqa: E731
        else:
            zero = np.zeros(env.action_space.shape, np.float32)
            act = lambda o: zero  # noqa: E731
        from mimic.sim.world import quiet_stdout

        with quiet_stdout():  # pybullet prints its connect banner to stdout
            env.reset(seed=seed)
        with tqdm(total=episodes, desc="evaluating", unit="episodes", disable=not progress, file=sys.stderr) as bar:
            eps = run_episodes(env, act, episodes, seed=seed, progress=lambda n: bar.update(1))
        res = dict(
            model=str(model) if model else None,
            env_id=env.spec.id if env.spec else None,
            motion=u.clip.name if hasattr(u, "clip") else None,
            kinematic=bool(getattr(u, "kinematic", False)),
            seed=seed,
        )
        duration = u.clip.duration if hasattr(u, "clip") else None
        res.update(summarize(eps, getattr(u, "max_episode_return", None), duration))
        return res
    finally:
        env.close()


def format_report(res: dict) -> str:
    what = res["model"] or "kinematic playback"
    lines = [
        f"{what}: {res['env_id']} motion {res['motion']}, {res['episodes']} deterministic "
        f"test episodes, seed {res['seed']}"
    ]
    lines.append(
        f"  return           {res['return_mean']:8.2f} +- {res['return_std']:.2f}"
        f"   (min {res['return_min']:.2f}, max {res['return_max']:.2f})"
    )
    if res.get("normalized_return_mean") is not None:
        lines.append(
            f"  normalised       {res['normalized_return_mean']:8.3f} +- "
            f"{res['normalized_return_std']:.3f}   "
            f"(return / {res['max_episode_return']:g})"
        )
    secs = res.get("episode_seconds_mean")
    lines.append(
        f"  episode length   {res['episode_steps_mean']:8.1f} steps" + (f" ({secs:.2f} s)" if secs is not None else "")
    )
    lines.append(f"  fall rate        {res['fall_rate']:8.3f}   ({res['falls']}/{res['episodes']})")
    if res.get("sim_unstable"):
        lines.append(
            f"  sim unstable     {res['sim_unstable_rate']:8.3f}   ({res['sim_unstable']}/"
            f"{res['episodes']} episodes ended with non-finite physics; failure rate "
            f"{res['failure_rate']:.3f})"
        )
    if res.get("pose_error_deg") is not None:
        lines.append(f"  pose error       {res['pose_error_deg']:8.2f} deg   (DiffWeight-weighted mean joint angle)")
    spans = [f"{a:.2f}-{b:.2f} s: {n}" for a, b, n in res.get("failures_by_clip_time") or [] if n]
    if spans:
        lines.append("  failures end at  clip time " + ", ".join(spans))
    return "\n".join(lines)


def write_json(res: dict, path: str):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, "w") as f:
        json.dump(json_safe(res), f, indent=2, allow_nan=False)
        f.write("\n")


def json_safe(x):
    """``x`` with every non-finite float as None (JSON has no NaN / Infinity)."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x
