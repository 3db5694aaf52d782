"""pretrained/: the shipped demo policies are small, load on a CPU, were trained with the args files
their README names, and go as far as their recorded evaluations say; the walk views headless from a
fresh checkout as the README says."""

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v2 as iio
import numpy as np
import pytest
import torch

from mimic.cli.argfile import parse_args
from mimic.evaluation import evaluate

REPO = Path(__file__).resolve().parent.parent
POLICY = REPO / "pretrained" / "humanoid_walk.pt"
# (policy, its clip, the args file its README says it was trained with)
SHIPPED = [
    ("humanoid_walk", "humanoid3d_walk", "humanoid_walk_relative.txt"),
    ("humanoid_spinkick", "humanoid3d_spinkick", "humanoid_spinkick_relative.txt"),
]
shipped = pytest.mark.parametrize("name, motion, args_file", SHIPPED, ids=[n for n, _, _ in SHIPPED])


@shipped
def test_shipped_policy_is_a_small_policy_only_cpu_checkpoint(name, motion, args_file):
    policy = REPO / "pretrained" / f"{name}.pt"
    assert policy.stat().st_size < 10_000_000
    s = torch.load(policy, map_location="cpu", weights_only=True)
    assert s["policy_only"] is True and "buffer" not in s and "actor_optimizer" not in s
    tensors = [t for part in ("actor", "critic", "obs_normalizer") for t in s[part].values()]
    assert tensors and all(t.device.type == "cpu" and torch.isfinite(t).all() for t in tensors)
    assert s["env_id"] == "mimic/Humanoid-v0" and s["env_kwargs"]["motion"] == motion


@shipped
def test_shipped_policy_was_trained_with_the_args_file_its_readme_names(name, motion, args_file):
    """pretrained/README.md says each policy was trained with its args file: the checkpoint's
    recorded task and agent overrides are the file's (thread counts aside, which do not change what
    is learned)."""
    policy = REPO / "pretrained" / f"{name}.pt"
    recorded = torch.load(policy, map_location="cpu", weights_only=True)["settings"]
    named = parse_args(["--arg_file", str(REPO / "args" / args_file)]).to_dict()
    overrides = {k: v for k, v in recorded["agent_overrides"].items() if not k.endswith("threads")}
    assert recorded["task"] == named["task"]
    assert overrides == named["agent_overrides"]
    assert recorded["run"]["agent_config"] == named["run"]["agent_config"]
    assert recorded["run"]["seed"] == named["run"]["seed"]


def test_shipped_walk_views_headless_as_the_readme_says(tmp_path):
    """`python mimic/view.py --model pretrained/humanoid_walk.pt --video ...`, run from elsewhere."""
    out = tmp_path / "walk.mp4"
    cmd = [sys.executable, str(REPO / "mimic" / "view.py"), "--model", str(POLICY), "--video", str(out)]
    cmd += ["--seconds", "2", "--width", "160", "--height", "120", "--quiet"]
    env = {**os.environ, "PYTHONPATH": "", "CUDA_VISIBLE_DEVICES": ""}
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env)
    assert p.returncode == 0, p.stderr
    frames = [f for f in iio.get_reader(str(out))]
    assert len(frames) == 60 and all(f.shape == (120, 160, 3) for f in frames)
    assert max(float(np.std(f)) for f in frames) > 20  # not blank
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0  # it moves


@shipped
def test_shipped_policy_goes_as_far_as_its_record_says(name, motion, args_file):
    """The recorded figures (pretrained/NAME_eval.json, written by mimic-eval) come back within a
    margin for machine-to-machine float differences, on the first of its episodes."""
    rec = json.loads((REPO / "pretrained" / f"{name}_eval.json").read_text())
    res = evaluate(str(REPO / "pretrained" / f"{name}.pt"), episodes=2, seed=rec["seed"])
    first = rec["per_episode"][:2]
    recorded_steps = np.mean([e["steps"] for e in first])
    assert res["episode_steps_mean"] >= 0.7 * recorded_steps
    assert res["return_mean"] >= 0.7 * np.mean([e["ret"] for e in first])
