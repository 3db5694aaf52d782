"""Clip checks (mimic.envs.clip_check, mimic/check_clip.py) on real clips and on real clips
spoiled in one known way: each spoiling must be caught and named."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import MOTIONS, REPO, dm_ref

from mimic.envs.clip_check import check_clip
from mimic.kinematics.character import load_character
from mimic.kinematics.clip import load_clip


def spoiled(tmp_path, stem, change):
    data = json.loads((MOTIONS / f"{stem}.txt").read_text())
    frames = np.array(data["Frames"])
    change(frames)
    data["Frames"] = frames.tolist()
    path = tmp_path / f"{stem}_spoiled.txt"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def humanoid():
    return load_character("humanoid")


def test_walk_passes_with_feet_alternating(humanoid):
    rep = check_clip(load_clip(MOTIONS / "humanoid3d_walk.txt", humanoid))
    assert rep.ok, rep.format()
    assert rep.frames == 39 and rep.loop == "wrap"
    assert rep.playback_reward > 0.99
    assert -0.02 < rep.lowest_point < 0.01
    right, left = rep.footfalls["right_ankle"], rep.footfalls["left_ankle"]
    # a walk: each foot is down a good part of the cycle, and both are never up at once
    assert 0.3 < right.count("#") / len(right) < 0.8 and 0.3 < left.count("#") / len(left) < 0.8
    assert all(a == "#" or b == "#" for a, b in zip(right, left))
    assert {s.foot for s in rep.stances} == {"right_ankle", "left_ankle"}


def test_sunk_clip_is_broken(tmp_path, humanoid):
    path = spoiled(tmp_path, "humanoid3d_walk", lambda f: f.__setitem__((slice(None), 2), f[:, 2] - 0.05))
    rep = check_clip(load_clip(path, humanoid), playback=False)
    assert not rep.ok and "penetrates the ground by 5.5 cm" in rep.problems[0]


def test_overbent_knee_and_glitch_frame_are_broken(tmp_path, humanoid):
    knee = 1 + humanoid.pose_offsets()[humanoid.index("left_knee")]
    chest = 1 + humanoid.pose_offsets()[humanoid.index("chest")]

    def change(f):
        f[10, knee] = 0.3  # knee bent forwards past its 0 limit
        f[20, chest : chest + 4] = [0, 0, 1, 0]  # chest turned 180 degrees for one frame

    rep = check_clip(load_clip(spoiled(tmp_path, "humanoid3d_walk", change), humanoid), playback=False)
    text = " ".join(rep.problems)
    assert "hinge limit exceeded by 0.300 rad (left_knee, frame 10)" in text
    assert "frame jump" in text and ("chest, frames 19-20" in text or "chest, frames 20-21" in text)


def test_cli_exit_codes(tmp_path):
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        [sys.executable, "mimic/check_clip.py", "humanoid3d_walk", "--no_playback", "--json", str(tmp_path / "r.json")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "right_ankle" in ok.stdout and json.loads((tmp_path / "r.json").read_text())["ok"]
    sunk = spoiled(tmp_path, "humanoid3d_walk", lambda f: f.__setitem__((slice(None), 2), f[:, 2] - 0.1))
    bad = subprocess.run(
        [sys.executable, "mimic/check_clip.py", str(sunk), "--no_playback"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "BROKEN: penetrates" in bad.stdout
    missing = subprocess.run(
        [sys.executable, "mimic/check_clip.py", str(tmp_path / "no.txt")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no such" in missing.stderr


def test_dog_trot_footfalls():
    clip = load_clip(dm_ref("motions", "dog3d_trot.txt"), load_character("dog"))
    rep = check_clip(clip, playback=False)
    assert set(rep.footfalls) == {"left_finger", "right_finger", "left_toe", "right_toe"}
    fl, fr, hl, hr = (rep.footfalls[k] for k in ("left_finger", "right_finger", "left_toe", "right_toe"))
    # a trot moves diagonal pairs together: front-left with hind-right, front-right with hind-left
    same = lambda a, b: np.mean([x == y for x, y in zip(a, b)])
    assert same(fl, hr) > 0.8 and same(fr, hl) > 0.8 and same(fl, fr) < 0.5
