"""BVH import onto the humanoid (mimic/import_clip.py), the clip check it runs, and BVH export
(mimic/export_bvh.py), on the real BVH files of tests/data and on a synthetic CMU-style capture
of a known clip (T-pose, centimetres, 1.15x the humanoid's proportions, y-up and z-up)."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from conftest import MOTIONS, REPO
from PIL import Image
from test_view import character_mask, make_checkpoint

from mimic.envs.clip_check import check_clip
from mimic.kinematics.bvh import read_bvh
from mimic.kinematics.character import load_character
from mimic.kinematics.clip import load_clip

DATA = REPO / "tests" / "data"
sys.path.insert(0, str(REPO / "bench"))
from synthetic_bvh import synthetic_capture  # noqa: E402


class Ran:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


@pytest.fixture
def run(capsys):
    """run('import_clip', *args): the script's main() in this process, with its output."""
    import importlib

    def call(script, *args):
        capsys.readouterr()
        code = importlib.import_module(f"mimic.{script}").main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return call


@pytest.fixture(scope="module")
def humanoid():
    return load_character("humanoid")


def angles(a, b):
    return 2 * np.arccos(np.minimum(np.abs(np.sum(a * b, axis=-1)), 1.0))


@pytest.mark.parametrize(
    "name, frames, joint_map", [("test_freebvh", 69, "humanoid_mixamo"), ("test_mocapbank", 455, "humanoid_mocapbank")]
)
def test_real_files_import_and_pass_the_check(run, tmp_path, humanoid, name, frames, joint_map):
    """Planting is on by default: the feet of both captures slide well over 5 cm in some
    stance without it, and under 3 cm in every stance with it, and the clip still passes."""
    raw = tmp_path / f"{name}_raw.txt"
    assert (
        run(
            "import_clip", DATA / f"{name}.bvh", "--out", raw, "--loop", "none", "--quiet", "--no_plant", "--no_check"
        ).returncode
        == 0
    )
    before = check_clip(load_clip(raw, humanoid), playback=False)
    assert before.max_slide() > 0.09
    out = tmp_path / f"{name}.txt"
    r = run("import_clip", DATA / f"{name}.bvh", "--out", out, "--loop", "none", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"joint map {joint_map}, unit cm" in r.stdout and "OK" in r.stdout
    assert re.search(r"planted \d+ stance\(s\)", r.stdout)
    clip = load_clip(out, humanoid)
    assert clip.num_frames == frames and not clip.loop
    rep = check_clip(clip)
    assert rep.ok and rep.lowest_point > -0.02 and rep.hinge_violation <= 0.01
    assert rep.playback_reward >= 0.99
    assert {s.foot for s in rep.stances} == {"right_ankle", "left_ankle"}  # sliding reported
    assert "sliding per stance" in r.stdout and "cm mean" in r.stdout
    assert rep.max_slide() < 0.03 and rep.mean_slide() < 0.5 * before.mean_slide()
    # the upper body and the root path are the capture's (the root at most lifted a little,
    # where a re-solved foot would dip below the ground); only the legs were re-solved
    lift = clip.root_pos - load_clip(raw, humanoid).root_pos
    assert np.abs(lift[:, [0, 2]]).max() < 1e-9 and 0 <= lift[:, 1].min() <= lift[:, 1].max() < 0.01
    arms = [humanoid.index(j) for j in ("chest", "neck", "left_shoulder", "right_elbow")]
    assert angles(clip.local_rot[:, arms], load_clip(raw, humanoid).local_rot[:, arms]).max() < 1e-6
    # the feet stand on the ground: in most frames one foot's sole is within 1 cm of it
    from mimic.kinematics.fk import forward_kinematics, link_bottoms

    fk = forward_kinematics(humanoid, clip.root_pos, clip.local_rot)
    feet = link_bottoms(humanoid, fk["joint_pos"], fk["joint_rot"])[:, humanoid.feet]
    assert np.mean(feet.min(axis=1) < 0.01) > 0.8


def test_contact_sheet_of_an_import(run, tmp_path):
    from mimic.viewer import contact_sheet

    out = tmp_path / "walk.txt"
    assert (
        run(
            "import_clip", DATA / "test_freebvh.bvh", "--out", out, "--loop", "none", "--quiet", "--no_check"
        ).returncode
        == 0
    )
    sheet = contact_sheet(out, tmp_path / "sheet.png", width=160, height=160)
    img = np.asarray(Image.open(sheet["path"]).convert("RGB"))
    assert img.shape == (320, 640, 3) and len(sheet["times"]) == 8
    for k in range(8):  # a character in every tile
        tile = img[(k // 4) * 160 : (k // 4 + 1) * 160, (k % 4) * 160 : (k % 4 + 1) * 160]
        assert character_mask(tile).sum() > 100


@pytest.mark.parametrize("up", ["y", "z"])
def test_tpose_capture_of_other_proportions_gives_back_the_clip(run, tmp_path, humanoid, up):
    from mimic.kinematics.bvh import write_bvh

    path = tmp_path / f"walk_cmu_{up}.bvh"
    write_bvh(path, synthetic_capture("humanoid3d_walk", scale=1.15, up=up))
    out = tmp_path / "walk.txt"
    r = run("import_clip", path, "--out", out, "--loop", "none", "--up", up, "--quiet", "--no_check", "--no_plant")
    assert r.returncode == 0, r.stderr
    assert "joint map humanoid_cmu, unit cm" in r.stdout and "leg-length ratio 0.870" in r.stdout
    want, got = load_clip(MOTIONS / "humanoid3d_walk.txt", humanoid), load_clip(out, humanoid)
    assert angles(want.local_rot, got.local_rot).max() < 1e-5
    # root path scaled back by the leg ratio: horizontal path as the clip's, height re-grounded
    np.testing.assert_allclose(got.root_pos[:, [0, 2]], want.root_pos[:, [0, 2]], atol=1e-5)
    assert np.abs(got.root_pos[:, 1] - want.root_pos[:, 1]).max() < 0.02


def test_wrap_closes_the_loop(run, tmp_path, humanoid):
    out = tmp_path / "loop.txt"
    assert (
        run(
            "import_clip",
            DATA / "test_freebvh.bvh",
            "--out",
            out,
            "--end",
            "0.7",
            "--fps",
            "60",
            "--quiet",
            "--no_check",
        ).returncode
        == 0
    )
    clip = load_clip(out, humanoid)
    assert clip.loop and clip.num_frames == 43 and np.allclose(clip.dts[:-1], 0.7 / 42)
    assert angles(clip.local_rot[-1], clip.local_rot[0]).max() < 1e-6
    assert abs(clip.root_pos[-1, 1] - clip.root_pos[0, 1]) < 1e-6
    assert np.linalg.norm(clip.cycle_delta) > 0.4  # the walk moves on each cycle


def test_planted_loop_stays_closed_and_feet_hold(run, tmp_path, humanoid):
    """The synthetic walk (the clip behind motions/bvh_walk.txt) imported as a loop: planted
    stances cross the wrap, the loop stays closed and no stance slides 3 cm."""
    from mimic.kinematics.bvh import write_bvh

    path = tmp_path / "walk_cmu.bvh"
    write_bvh(path, synthetic_capture("humanoid3d_walk", scale=1.15))
    raw, out = tmp_path / "raw.txt", tmp_path / "walk.txt"
    assert run("import_clip", path, "--out", raw, "--quiet", "--no_check", "--no_plant").returncode == 0
    assert run("import_clip", path, "--out", out, "--quiet", "--no_check").returncode == 0
    before = check_clip(load_clip(raw, humanoid), playback=False)
    rep = check_clip(clip := load_clip(out, humanoid), playback=False)
    assert before.max_slide() > 0.08 and rep.max_slide() < 0.03
    assert rep.ok and rep.lowest_point > -0.02 and rep.wrap_angle < 1e-6
    assert angles(clip.local_rot[-1], clip.local_rot[0]).max() < 1e-6
    # motions/README.md: the shipped walks are these two imports
    for made, stem in ((raw, "bvh_walk"), (out, "bvh_walk_planted")):
        shipped = json.loads((MOTIONS / f"{stem}.txt").read_text())["Frames"]
        np.testing.assert_allclose(json.loads(made.read_text())["Frames"], shipped, atol=1e-9)


def test_bad_stance_parameter_writes_nothing(run, tmp_path):
    out = tmp_path / "x.txt"
    r = run("import_clip", DATA / "test_freebvh.bvh", "--out", out, "--stance_speed", "0", "--quiet")
    assert r.returncode == 2 and not out.exists()
    assert r.stderr.strip() == "import_clip: stance parameter speed = 0.0 must be > 0"


def test_unknown_skeleton_lists_joints_and_writes_nothing(run, tmp_path):
    text = (DATA / "test_mocapbank.bvh").read_text()
    names = re.findall(r"(?:ROOT|JOINT) (\S+)", text)
    for k, n in enumerate(names):
        text = re.sub(rf"\b{n}\b", f"Bone{k}", text)
    src = tmp_path / "odd.bvh"
    src.write_text(text)
    out = tmp_path / "odd.txt"
    r = run("import_clip", src, "--out", out, "--quiet")
    assert r.returncode == 2 and not out.exists()
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "unknown skeleton" in err and "--joint_map" in err
    assert "Bone0, Bone1" in err and "root (Hips not in the file)" in err
    assert "left_knee" in err
    # the same skeleton imports with a map of its own names, written as the shipped ones are
    shipped = (REPO / "characters" / "joint_maps" / "humanoid_mocapbank.yaml").read_text()
    for k, n in enumerate(names):  # end sites are named after their joint: X_End
        shipped = re.sub(rf"\b{n}(?=\b|_End\b)", f"Bone{k}", shipped)
    (tmp_path / "odd.yaml").write_text(shipped)
    r = run("import_clip", src, "--out", out, "--joint_map", tmp_path / "odd.yaml", "--quiet", "--no_check")
    assert r.returncode == 0 and out.exists() and "joint map odd" in r.stdout


def test_truncated_file_names_the_line_and_writes_nothing(run, tmp_path):
    lines = (DATA / "test_freebvh.bvh").read_text().splitlines(keepends=True)
    src = tmp_path / "cut.bvh"
    src.write_text("".join(lines[:380]))
    out = tmp_path / "cut.txt"
    r = run("import_clip", src, "--out", out, "--quiet")
    assert r.returncode == 2 and not out.exists()
    assert "cut.bvh:381:" in r.stderr and "truncated" in r.stderr


def test_export_round_trip_and_independent_parser(run, tmp_path, humanoid):
    import bvh as bvh_pkg

    path = tmp_path / "walk.bvh"
    r = run("export_bvh", "--motion", "humanoid3d_walk", "--out", path)
    assert r.returncode == 0 and "13 joints, 39 frames" in r.stdout, r.stderr
    other = bvh_pkg.Bvh(path.read_text())
    assert len(other.get_joints_names()) == 13 and other.nframes == 39
    out = tmp_path / "back.txt"
    assert (
        run("import_clip", path, "--out", out, "--loop", "none", "--quiet", "--no_check", "--no_plant").returncode == 0
    )
    want, got = load_clip(MOTIONS / "humanoid3d_walk.txt", humanoid), load_clip(out, humanoid)
    assert angles(want.local_rot, got.local_rot).max() < 1e-4
    np.testing.assert_allclose(got.hinge_angle, want.hinge_angle, atol=1e-4)


def test_export_of_a_policy_records_the_simulated_character(run, tmp_path, humanoid):
    model = make_checkpoint(tmp_path / "model.pt")
    path = tmp_path / "policy.bvh"
    r = run("export_bvh", "--model", model, "--seconds", 2, "--start", 0.3, "--out", path)
    assert r.returncode == 0, r.stderr
    b = read_bvh(path)
    assert b.num_joints == 13 and 2 <= b.num_frames <= 61
    assert b.frame_time == pytest.approx(1 / 30)
    back = tmp_path / "policy.txt"
    assert (
        run("import_clip", path, "--out", back, "--loop", "none", "--quiet", "--no_check", "--no_plant").returncode == 0
    )
    sim = load_clip(back, humanoid)
    ref = load_clip(MOTIONS / "humanoid3d_walk.txt", humanoid)
    t = 0.3 + sim.frame_times
    _, ref_rot = ref.pose_at(t)
    err = angles(sim.local_rot, ref_rot)[:, humanoid.actuated]
    assert err[0].max() < 1e-3  # it starts on the reference (RSI at 0.3 s) ...
    assert err[-1].max() > 0.05  # ... and what is recorded is the simulation
