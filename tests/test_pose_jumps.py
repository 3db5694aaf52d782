"""Pose jumps (mimic.kinematics.pose_jumps): found on the real walk clip, where DeepMimic's two
mirrored half-cycles meet, and blended out without touching the frames away from the seams."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import MOTIONS, REPO

from mimic.kinematics.character import load_character
from mimic.kinematics.clip import clip_from_dict, load_clip
from mimic.kinematics.pose_jumps import blend_pose_jump, blend_pose_jumps, find_pose_jumps, frame_steps


@pytest.fixture(scope="module")
def walk():
    return load_clip(MOTIONS / "humanoid3d_walk.txt", load_character("humanoid"))


def largest_step_deg(clip):
    return np.degrees(np.linalg.norm(frame_steps(clip), axis=-1)).max(axis=1)  # per step


def test_the_walk_jumps_where_its_half_cycles_meet(walk):
    jumps = find_pose_jumps(walk)
    assert sorted({j.frame for j in jumps}) == [18, 38]  # mid-cycle seam, and the loop wrap 38 -> 0
    worst = {j.frame: max(jumps, key=lambda k: k.step_deg if k.frame == j.frame else 0) for j in jumps}
    assert worst[18].joint == "left_shoulder" and worst[18].step_deg > 25 and worst[18].neighbour_deg < 2
    assert worst[38].joint == "right_shoulder" and worst[38].step_deg > 25 and worst[38].neighbour_deg < 2
    # every other step of the walk turns no joint more than 13 degrees
    steps = largest_step_deg(walk)
    assert np.delete(steps, [18, 38]).max() < 13


def test_blending_removes_the_jumps_and_keeps_frames_away_from_the_seams(walk):
    blended, seams = blend_pose_jumps(walk, window=4)
    assert seams == [18, 38] and find_pose_jumps(blended) == []
    assert largest_step_deg(blended).max() < 13
    # the windows: frames 15-22 around the seam after 18, frames 35-38 and 0-3 around the wrap
    untouched = [f for f in range(walk.num_frames) if not (15 <= f <= 22 or f >= 35 or f <= 3)]
    np.testing.assert_allclose(blended.local_rot[untouched], walk.local_rot[untouched], atol=1e-12)
    np.testing.assert_allclose(blended.root_pos[untouched], walk.root_pos[untouched], atol=1e-12)
    moved = np.abs(blended.local_rot[[16, 18, 20, 37, 1]] - walk.local_rot[[16, 18, 20, 37, 1]]).max()
    assert moved > 0.01
    # the wrap now takes no step: the last frame is frame 0 of the next cycle
    np.testing.assert_allclose(np.abs(np.sum(blended.local_rot[-1] * blended.local_rot[0], -1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(blended.root_pos[-1], blended.root_pos[0] + blended.cycle_delta, atol=1e-9)
    # the velocity spike of the seam is gone (15 rad/s on the left shoulder before)
    assert np.linalg.norm(walk.local_ang_vel, axis=-1).max() > 14
    assert np.linalg.norm(blended.local_ang_vel, axis=-1).max() < 8


def test_an_injected_seam_is_found_and_blended_to_its_neighbours_pace(walk):
    data = json.loads((MOTIONS / "walk_blended.txt").read_text())
    frames = np.array(data["Frames"])
    ch = walk.character
    knee = 1 + ch.pose_offsets()[ch.index("right_knee")]
    frames[9:, knee] -= 0.4  # the right knee jumps 0.4 rad between frames 8 and 9 (a non-looping clip)
    clip = clip_from_dict({"Loop": "none", "Frames": frames.tolist()}, ch, name="seamed")
    jumps = find_pose_jumps(clip)
    assert [(j.frame, j.joint) for j in jumps] == [(8, "right_knee")]
    fixed = blend_pose_jump(clip, 8, window=4)
    knee_steps = np.diff(fixed.hinge_angle[:, ch.index("right_knee")])
    original = np.diff(load_clip(MOTIONS / "walk_blended.txt", ch).hinge_angle[:, ch.index("right_knee")])
    assert knee_steps[8] == pytest.approx(0.5 * (original[7] + original[9]), abs=1e-9)
    # the 0.4 rad went into the steps of the window, none outside it
    np.testing.assert_allclose(knee_steps[:4], original[:4], atol=1e-12)
    np.testing.assert_allclose(knee_steps[13:-1], original[13:-1], atol=1e-12)
    assert knee_steps[4:13].sum() == pytest.approx(original[4:13].sum() - 0.4, abs=1e-9)


def test_a_window_that_does_not_fit_names_the_clip(walk):
    with pytest.raises(ValueError, match="humanoid3d_walk: a 30-frame blend"):
        blend_pose_jump(walk, 18, window=30)
    with pytest.raises(ValueError, match="does not fit"):
        blend_pose_jump(walk, 39, window=4)


def test_check_clip_warns_and_writes_the_blended_walk(tmp_path):
    out = tmp_path / "walk_blended.txt"
    run = subprocess.run(
        [sys.executable, "mimic/check_clip.py", "humanoid3d_walk", "--no_playback", "--blend_jumps", str(out)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "7 pose jump(s) in 2 step(s) (after frame(s) 18, 38); worst: left_shoulder" in run.stdout
    assert "pose jumps blended in 2 step(s) (frames 18-19, 38-0)" in run.stdout
    # the shipped blended walk is this command's output, byte for byte
    assert out.read_bytes() == (MOTIONS / "walk_blended.txt").read_bytes()
