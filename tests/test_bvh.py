"""BVH reading and writing (mimic.kinematics.bvh) on the real files of tests/data and on small
files written here: channel orders against scipy, end sites, units, errors with line numbers,
and an independent parser (the `bvh` package from PyPI) reading what we write."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO
from scipy.spatial.transform import Rotation

from mimic.kinematics.bvh import BVHError, detect_unit, read_bvh, write_bvh

DATA = REPO / "tests" / "data"
MIXAMO, MOCAPBANK = DATA / "test_freebvh.bvh", DATA / "test_mocapbank.bvh"

SMALL = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
  JOINT Leg
  {
    OFFSET 0 -40 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 -45 5
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0083333
1 90 2 10 20 30 40 50 60
0 91 0 -5 0 5 0 0 90
"""


def test_real_files_joint_and_frame_counts():
    mix, bank = read_bvh(MIXAMO), read_bvh(MOCAPBANK)
    assert (mix.num_joints, mix.num_frames, len(mix.end_sites)) == (55, 69, 15)
    assert mix.names[0] == "mixamorig:Hips" and mix.frame_time == pytest.approx(1 / 30, 1e-5)
    assert (bank.num_joints, bank.num_frames, len(bank.end_sites)) == (19, 455, 5)
    assert mix.motion.shape == (69, 6 + 54 * 3) and bank.motion.shape == (455, 6 + 18 * 3)
    # first values of the first motion line of each file, as printed in the file
    np.testing.assert_allclose(mix.motion[0, :4], [-0.2399, 98.2948, -0.5224, 3.8145])
    assert detect_unit(mix.height()) == "cm" and detect_unit(bank.height()) == "cm"


def test_channel_orders_follow_scipy_intrinsic_euler(tmp_path):
    p = tmp_path / "small.bvh"
    p.write_text(SMALL)
    b = read_bvh(p)
    assert b.channels[0][3:] == ["Yrotation", "Xrotation", "Zrotation"]
    rot = b.local_rotations()
    want_root = Rotation.from_euler("YXZ", [10, 20, 30], degrees=True)
    want_leg = Rotation.from_euler("XZY", [40, 50, 60], degrees=True)
    assert (Rotation.from_quat(rot[0, 0]) * want_root.inv()).magnitude() < 1e-12
    assert (Rotation.from_quat(rot[0, 1]) * want_leg.inv()).magnitude() < 1e-12
    np.testing.assert_allclose(b.local_translations()[1, 0], [0, 91, 0])
    np.testing.assert_allclose(b.rest_positions()["Leg_End"], [0, -85, 5])
    assert b.frame_rate == pytest.approx(120, 1e-3)


def test_units_from_height():
    assert [detect_unit(h) for h in (1.75, 68.0, 175.0, 1750.0)] == ["m", "inch", "cm", "mm"]
    assert detect_unit(60.0, expected=0.6) == "cm"  # a dog-sized skeleton in cm


@pytest.mark.parametrize(
    "damage, line, words",
    [
        (lambda s: s.replace("0 91 0 -5 0 5 0 0 90\n", ""), 20, "truncated"),
        (lambda s: s.replace("0 91 0 -5", "0 91 0 x5"), 20, "'x5' is not a number"),
        (lambda s: s.replace("1 90 2 10 20 30 40 50 60", "1 90 2 10 20 30 40 50"), 19, "8 values"),
        (lambda s: s.replace("OFFSET 0 -40 0", "OFFSET 0 -40"), 8, "OFFSET needs 3 numbers"),
        (lambda s: s.replace("CHANNELS 3 Xrotation", "CHANNELS 3 Xrot"), 9, "CHANNELS"),
        (lambda s: s.replace("Frames: 2", "Frames: two"), 17, "Frames: <count>"),
        (lambda s: s[: s.index("MOTION")], 16, "expected MOTION"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, damage, line, words):
    p = tmp_path / "bad.bvh"
    p.write_text(damage(SMALL))
    with pytest.raises(BVHError) as e:
        read_bvh(p)
    assert str(e.value).startswith(f"{p}:{line}:") and words in str(e.value), str(e.value)


def test_truncated_real_file_names_its_last_line(tmp_path):
    lines = MOCAPBANK.read_text().splitlines(keepends=True)
    p = tmp_path / "cut.bvh"
    p.write_text("".join(lines[:300]) + lines[300][:40])  # cut inside frame 181 (line 120 is frame 0)
    with pytest.raises(BVHError, match=r"cut.bvh:301: frame 181 has \d+ values"):
        read_bvh(p)


def test_write_then_read_and_independent_parser(tmp_path):
    import bvh as bvh_pkg  # PyPI 'bvh', an independent parser

    src = read_bvh(MOCAPBANK)
    out = tmp_path / "copy.bvh"
    write_bvh(out, src)
    back = read_bvh(out)
    assert back.names == src.names and back.channels == src.channels
    np.testing.assert_allclose(back.motion, src.motion, atol=1e-6)
    np.testing.assert_allclose(back.offsets, src.offsets, atol=1e-6)
    other = bvh_pkg.Bvh(out.read_text())
    assert len(other.get_joints_names()) == src.num_joints and other.nframes == src.num_frames
    np.testing.assert_allclose([float(v) for v in other.frames[10][:6]], src.motion[10, :6], atol=1e-6)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_kernel_matches_scipy(order):
    from mimic.kinematics.rotations import quat_from_euler

    a = np.random.default_rng(1).uniform(-np.pi, np.pi, (500, 3))
    q = quat_from_euler(a, order)
    assert (Rotation.from_quat(q) * Rotation.from_euler(order, a).inv()).magnitude().max() < 1e-12
