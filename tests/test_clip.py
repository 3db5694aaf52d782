"""DeepMimic clip loading: validation messages and the evaluation semantics of spec section 1."""

import json
import math

import numpy as np
import pytest
from conftest import HUMANOID_CLIPS, MOTIONS, pybullet_file, quat_err, raw_frames
from scipy.spatial.transform import Rotation, Slerp

from mimic.kinematics.character import REVOLUTE, SPHERICAL
from mimic.kinematics.clip import ClipError, load_clip

# Humanoid frame layout from spec section 1.1 (column of each joint's first value in a frame,
# dt included): the tests read raw frames with this table, not with mimic's own offsets.
SPEC_COLUMNS = {
    "chest": 8,
    "neck": 12,
    "right_hip": 16,
    "right_knee": 20,
    "right_ankle": 21,
    "right_shoulder": 25,
    "right_elbow": 29,
    "left_hip": 30,
    "left_knee": 34,
    "left_ankle": 35,
    "left_shoulder": 39,
    "left_elbow": 43,
}

# spec section 9: frames, T, loop, drift (dx, dz) -- published numbers, 3 decimals
SPEC_CLIPS = {
    "humanoid3d_backflip": (29, 1.750, True, (-1.079, 0.0)),
    "humanoid3d_cartwheel": (164, 2.717, True, (-0.227, -2.127)),
    "humanoid3d_crawl": (177, 2.933, True, (0.771, 0.031)),
    "humanoid3d_dance_a": (98, 1.617, True, (0.198, -1.154)),
    "humanoid3d_dance_b": (153, 2.533, True, (0.141, 0.057)),
    "humanoid3d_getup_facedown": (183, 3.033, False, None),
    "humanoid3d_getup_faceup": (227, 3.767, False, None),
    "humanoid3d_jump": (107, 1.767, True, (1.066, 0.055)),
    "humanoid3d_kick": (47, 1.533, False, None),
    "humanoid3d_punch": (65, 2.133, False, None),
    "humanoid3d_roll": (121, 2.016, True, (0.902, 0.0)),
    "humanoid3d_run": (25, 0.800, True, (2.845, 0.0)),
    "humanoid3d_spin": (107, 4.417, True, (-0.117, -2.443)),
    "humanoid3d_spinkick": (78, 1.283, True, (0.469, 0.125)),  # the PB / 2018 version
    "humanoid3d_walk": (39, 1.267, True, (1.239, 0.0)),
}


def frame_rotations(raw, f):
    """{joint: scipy Rotation} of raw frame f (w, x, y, z in the file), from the spec layout."""
    out = {"root": Rotation.from_quat(raw[f, 4:8], scalar_first=True)}
    for name, c in SPEC_COLUMNS.items():
        if name.endswith(("knee", "elbow")):
            out[name] = Rotation.from_rotvec([0, 0, raw[f, c]])
        else:
            out[name] = Rotation.from_quat(raw[f, c : c + 4], scalar_first=True)
    return out


# ------------------------------------------------------------------------------ validation


def write_variant(tmp_path, name, mutate, source="humanoid3d_walk"):
    """A copy of a shipped clip with ``mutate(data)`` applied, written under tmp_path."""
    data = json.loads((MOTIONS / f"{source}.txt").read_text())
    mutate(data)
    p = tmp_path / f"{name}.txt"
    p.write_text(json.dumps(data))
    return p


def clip_error(path, character):
    with pytest.raises(ClipError) as e:
        load_clip(path, character)
    return str(e.value)


def test_shipped_clips_load(humanoid):
    for stem in HUMANOID_CLIPS:
        load_clip(MOTIONS / f"{stem}.txt", humanoid)


@pytest.mark.parametrize("stem", HUMANOID_CLIPS)
def test_shipped_clip_is_pybullet_datas_unchanged(stem):
    """motions/README.md: the clips are pybullet_data's, unchanged."""
    theirs = pybullet_file("pybullet_data", "data", "motions", f"{stem}.txt")
    assert (MOTIONS / f"{stem}.txt").read_bytes() == theirs.read_bytes()


def test_bad_json(tmp_path, humanoid):
    p = tmp_path / "broken_json.txt"
    p.write_text('{"Loop": "wrap", "Frames": [[0.1, 1, 2,]')
    msg = clip_error(p, humanoid)
    assert "broken_json.txt" in msg and "JSON" in msg


def test_missing_file(tmp_path, humanoid):
    msg = clip_error(tmp_path / "nowhere.txt", humanoid)
    assert "nowhere.txt" in msg


def test_missing_frames(tmp_path, humanoid):
    p = write_variant(tmp_path, "no_frames", lambda d: d.pop("Frames"))
    msg = clip_error(p, humanoid)
    assert "no_frames.txt" in msg and "Frames" in msg


def test_bad_loop_value(tmp_path, humanoid):
    p = write_variant(tmp_path, "bad_loop", lambda d: d.update(Loop="forever"))
    msg = clip_error(p, humanoid)
    assert "bad_loop.txt" in msg and "Loop" in msg and "forever" in msg


def test_too_few_frames(tmp_path, humanoid):
    p = write_variant(tmp_path, "one_frame", lambda d: d.update(Frames=d["Frames"][:1]))
    assert "one_frame.txt" in clip_error(p, humanoid)


def test_frame_of_wrong_length(tmp_path, humanoid):
    p = write_variant(tmp_path, "short_frame", lambda d: d["Frames"][5].pop())
    msg = clip_error(p, humanoid)
    assert "short_frame.txt" in msg and "frame 5" in msg and "44" in msg and "43" in msg


def test_dog_clip_for_the_humanoid_is_rejected_by_length(tmp_path, humanoid):
    def dogify(d):  # an 84-wide frame like a dog clip's
        d["Frames"] = [fr + [0.0] * 40 for fr in d["Frames"]]

    msg = clip_error(write_variant(tmp_path, "dog_like", dogify), humanoid)
    assert "frame 0" in msg and "84" in msg and "44" in msg


def test_non_number(tmp_path, humanoid):
    def mutate(d):
        d["Frames"][4][SPEC_COLUMNS["neck"]] = "abc"

    msg = clip_error(write_variant(tmp_path, "text_value", mutate), humanoid)
    assert "frame 4" in msg and "neck.w" in msg


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_value(tmp_path, humanoid, value):
    def mutate(d):
        d["Frames"][3][8] = value  # chest.w

    p = write_variant(tmp_path, "nan_value", mutate)
    assert ("NaN" if math.isnan(value) else "Infinity") in p.read_text()
    msg = clip_error(p, humanoid)
    assert "nan_value.txt" in msg and "frame 3" in msg
    assert "chest.w" in msg or "column 8" in msg


@pytest.mark.parametrize("dt", [0.0, -0.03])
def test_non_positive_dt(tmp_path, humanoid, dt):
    def mutate(d):
        d["Frames"][7][0] = dt

    msg = clip_error(write_variant(tmp_path, "bad_dt", mutate), humanoid)
    assert "bad_dt.txt" in msg and "frame 7" in msg and "dt" in msg


def test_last_frame_dt_may_be_zero(tmp_path, humanoid):
    # shipped clips end with dt 0: the last frame's dt is unused
    _, raw = raw_frames("humanoid3d_walk")
    assert raw[-1, 0] == 0.0
    p = write_variant(tmp_path, "last_dt", lambda d: d["Frames"][-1].__setitem__(0, -1.0))
    load_clip(p, humanoid)


def test_zero_quaternion(tmp_path, humanoid):
    c = SPEC_COLUMNS["right_hip"]

    def mutate(d):
        d["Frames"][2][c : c + 4] = [0.0, 0.0, 0.0, 0.0]

    msg = clip_error(write_variant(tmp_path, "zero_quat", mutate), humanoid)
    assert "zero_quat.txt" in msg and "frame 2" in msg and "right_hip" in msg
    assert f"{c}-{c + 3}" in msg


def test_zero_root_quaternion(tmp_path, humanoid):
    def mutate(d):
        d["Frames"][6][4:8] = [0.0, 0.0, 0.0, 0.0]

    msg = clip_error(write_variant(tmp_path, "zero_root", mutate), humanoid)
    assert "frame 6" in msg and "4-7" in msg and "root" in msg


# ------------------------------------------------------------------------------ semantics


@pytest.mark.parametrize("stem", HUMANOID_CLIPS)
def test_length_loop_and_drift_match_raw_file_and_spec(stem, clips):
    clip = clips(stem)
    loop, raw = raw_frames(stem)
    n, T, spec_loop, drift = SPEC_CLIPS[stem]
    assert clip.num_frames == len(raw) == n
    assert clip.loop == (loop == "wrap") == spec_loop
    assert clip.duration == pytest.approx(raw[:-1, 0].sum(), abs=1e-12)  # all but the last dt
    assert clip.duration == pytest.approx(T, abs=1e-3)
    np.testing.assert_allclose(clip.frame_times, np.concatenate([[0], np.cumsum(raw[:-1, 0])]), atol=1e-12)
    if drift is not None:
        d = clip.cycle_delta
        assert d[1] == 0.0
        np.testing.assert_allclose(d[[0, 2]], raw[-1, [1, 3]] - raw[0, [1, 3]], atol=1e-12)
        np.testing.assert_allclose(d[[0, 2]], drift, atol=1.5e-3)


@pytest.mark.parametrize("stem", ["humanoid3d_walk", "humanoid3d_roll", "humanoid3d_kick"])
def test_preprocessing_and_pose_at_frame_times(stem, clips):
    clip = clips(stem)
    _, raw = raw_frames(stem)
    # frame-0 root x, z subtracted, y kept
    expect_root = raw[:, 1:4] - raw[0, 1:4] * np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(clip.root_pos, expect_root, atol=1e-12)
    np.testing.assert_allclose(clip.root_pos[0, [0, 2]], 0.0)
    # quaternions normalised
    J = clip.character.num_joints
    np.testing.assert_allclose(np.linalg.norm(clip.local_rot, axis=-1), 1.0, atol=1e-12)
    # pose_at at every frame time is that frame (the last frame of a loop is the next cycle's 0)
    last = clip.num_frames if not clip.loop else clip.num_frames - 1
    names = clip.character.joint_names
    for f in range(last):
        root, rot = clip.pose_at(clip.frame_times[f])
        np.testing.assert_allclose(root, expect_root[f], atol=1e-9)
        rots = frame_rotations(raw, f)
        for name, r in rots.items():
            assert quat_err(rot[names.index(name)], r.as_quat()) < 1e-9, (f, name)
        for j in range(J):  # fixed joints (wrists) are identity
            if clip.character.joint_types[j] not in (SPHERICAL, REVOLUTE) and j != 0:
                assert quat_err(rot[j], [0, 0, 0, 1]) < 1e-12
        hinges = clip.hinge_angles_at(clip.frame_times[f])
        for name in ("right_knee", "right_elbow", "left_knee", "left_elbow"):
            assert hinges[names.index(name)] == pytest.approx(raw[f, SPEC_COLUMNS[name]], abs=1e-12)


@pytest.mark.parametrize("stem", ["humanoid3d_backflip", "humanoid3d_roll"])
def test_blend_between_frames_matches_scipy_slerp(stem, clips):
    clip = clips(stem)
    _, raw = raw_frames(stem)
    names = clip.character.joint_names
    rng = np.random.default_rng(5)
    for f in rng.choice(clip.num_frames - 1, 8, replace=False):
        t0, t1 = clip.frame_times[f], clip.frame_times[f] + raw[f, 0]
        for b in (0.5, 0.23):
            t = t0 + b * (t1 - t0)
            root, rot = clip.pose_at(t)
            r0 = raw[f, 1:4] - raw[0, 1:4] * [1, 0, 1]
            r1 = raw[f + 1, 1:4] - raw[0, 1:4] * [1, 0, 1]
            np.testing.assert_allclose(root, (1 - b) * r0 + b * r1, atol=1e-9)
            a, c = frame_rotations(raw, f), frame_rotations(raw, f + 1)
            for name in a:
                if name.endswith(("knee", "elbow")):  # hinges lerp their angle
                    ang = (1 - b) * raw[f, SPEC_COLUMNS[name]] + b * raw[f + 1, SPEC_COLUMNS[name]]
                    expect = Rotation.from_rotvec([0, 0, ang])
                else:
                    expect = Slerp([t0, t1], Rotation.concatenate([a[name], c[name]]))([t])[0]
                assert quat_err(rot[names.index(name)], expect.as_quat()) < 1e-9, (f, b, name)


# --- reference velocities versus finite differences of pose_at


def fd_velocity(clip, ta, tb):
    """Root linear (world), root angular (world) and joint angular velocities (local; hinges as
    (0, 0, dtheta)) from pose_at(ta) -> pose_at(tb), computed with scipy."""
    ra, qa = clip.pose_at(ta)
    rb, qb = clip.pose_at(tb)
    h = tb - ta
    lin = (rb - ra) / h
    J = qa.shape[0]
    ang = np.zeros((J, 3))
    Ra, Rb = Rotation.from_quat(qa), Rotation.from_quat(qb)
    ang[0] = (Rb[0] * Ra[0].inv()).as_rotvec() / h
    ang[1:] = (Ra[1:].inv() * Rb[1:]).as_rotvec() / h
    ha, hb = clip.hinge_angles_at(ta), clip.hinge_angles_at(tb)
    hinge = clip.character.joint_types == REVOLUTE
    ang[hinge] = 0.0
    ang[hinge, 2] = (hb - ha)[hinge] / h
    return lin, ang


@pytest.mark.parametrize("stem", ["humanoid3d_walk", "humanoid3d_roll", "humanoid3d_backflip", "humanoid3d_kick"])
def test_velocities_are_lerped_forward_differences(stem, clips):
    clip = clips(stem)
    eps = 1e-7
    rng = np.random.default_rng(11)
    frames = sorted(set(rng.choice(clip.num_frames - 2, 10, replace=False)) | {0, clip.num_frames - 2})
    fd = {}

    def interval_fd(f):  # the finite difference across the whole interval f (just inside it)
        if f not in fd:
            t0, t1 = clip.frame_times[f], clip.frame_times[f + 1]
            fd[f] = fd_velocity(clip, t0 + eps, t1 - eps)
        return fd[f]

    for f in frames:
        lin_f, ang_f = interval_fd(f)
        # a slerp/lerp has a constant rate: a small step anywhere inside gives the same value
        tm = clip.frame_times[f] + 0.37 * clip.dts[f]
        lin_s, ang_s = fd_velocity(clip, tm, tm + 1e-6)
        np.testing.assert_allclose(lin_s, lin_f, atol=1e-5)
        np.testing.assert_allclose(ang_s, ang_f, atol=1e-4)
        # the clip's velocity at the start of the interval is that forward difference
        lin, ang = clip.velocity_at(clip.frame_times[f])
        np.testing.assert_allclose(lin, lin_f, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ang, ang_f, rtol=1e-6, atol=1e-5)
        # inside the interval it is the lerp of this row and the next one (the last row repeats)
        nxt = interval_fd(f + 1) if f + 1 < clip.num_frames - 1 else (lin_f, ang_f)
        for b in (0.25, 0.8):
            lin, ang = clip.velocity_at(clip.frame_times[f] + b * clip.dts[f])
            np.testing.assert_allclose(lin, (1 - b) * lin_f + b * nxt[0], rtol=1e-6, atol=1e-5)
            np.testing.assert_allclose(ang, (1 - b) * ang_f + b * nxt[1], rtol=1e-6, atol=1e-4)


def test_roll_uneven_dt_is_handled(clips):
    clip = clips("humanoid3d_roll")
    _, raw = raw_frames("humanoid3d_roll")
    dts = raw[:-1, 0]
    long = np.flatnonzero(np.isclose(dts, 0.032666))
    short = np.flatnonzero(np.isclose(dts, 0.016666))
    assert len(long) and len(short)
    for f in (long[0], long[-1], short[-1]):
        t = raw[:f, 0].sum() + 0.5 * dts[f]  # midpoint of interval f by the file's dts
        i, b = clip.index_blend(t)
        assert int(i) == f and float(b) == pytest.approx(0.5, abs=1e-9)
        # the velocity at the interval's start uses that interval's own dt
        lin, _ = clip.velocity_at(raw[:f, 0].sum())
        expect = (raw[f + 1, 1:4] - raw[f, 1:4]) / dts[f]
        np.testing.assert_allclose(lin, expect, atol=1e-9)


@pytest.mark.parametrize("stem", ["humanoid3d_walk", "humanoid3d_spin", "humanoid3d_roll"])
def test_cycle_drift(stem, clips):
    clip = clips(stem)
    T, d = clip.duration, clip.cycle_delta
    assert d[1] == 0.0
    for t in (0.0, 0.31, 0.5 * T, T - 0.01):
        r0, q0 = clip.pose_at(t)
        for c in (1, 2, -1):
            rc, qc = clip.pose_at(t + c * T)
            np.testing.assert_allclose(rc, r0 + c * d, atol=1e-9)
            assert quat_err(qc, q0) < 1e-7  # heading is not accumulated
            np.testing.assert_allclose(clip.velocity_at(t + c * T)[0], clip.velocity_at(t)[0], atol=1e-6)
        assert clip.phase(t + 2 * T) == pytest.approx(t / T, abs=1e-9)
    # the wrap is continuous: the end of one cycle meets the start of the next (x, z)
    r_end, _ = clip.pose_at(T - 1e-9)
    r_next, _ = clip.pose_at(T)
    np.testing.assert_allclose(r_end[[0, 2]], r_next[[0, 2]], atol=1e-6)


def test_non_looping_clip_holds_last_pose_at_rest(clips):
    clip = clips("humanoid3d_kick")
    _, raw = raw_frames("humanoid3d_kick")
    T = clip.duration
    last_root = raw[-1, 1:4] - raw[0, 1:4] * [1, 0, 1]
    last_rot = frame_rotations(raw, len(raw) - 1)
    names = clip.character.joint_names
    for t in (T, T + 0.2, T + 5.0):
        root, rot = clip.pose_at(t)
        np.testing.assert_allclose(root, last_root, atol=1e-9)
        for name, r in last_rot.items():
            assert quat_err(rot[names.index(name)], r.as_quat()) < 1e-9
        assert clip.phase(t) == 1.0
    for t in (T + 1e-6, T + 0.5, T + 3.0):
        lin, ang = clip.velocity_at(t)
        assert not lin.any() and not ang.any()
    # before the start: frame 0
    root, rot = clip.pose_at(-0.5)
    np.testing.assert_allclose(root, raw[0, 1:4] * [0, 1, 0], atol=1e-12)
    assert quat_err(rot[0], Rotation.from_quat(raw[0, 4:8], scalar_first=True).as_quat()) < 1e-12
    assert not clip.cycle_delta[1]


def test_save_load_round_trip(tmp_path, clips, humanoid):
    clip = clips("humanoid3d_roll")
    p = tmp_path / "copy.txt"
    clip.save(p)
    again = load_clip(p, humanoid)
    assert again.loop == clip.loop and again.num_frames == clip.num_frames
    np.testing.assert_allclose(again.dts, clip.dts, atol=1e-9)
    np.testing.assert_allclose(again.root_pos, clip.root_pos, atol=1e-9)
    assert quat_err(again.local_rot, clip.local_rot) < 1e-8


def test_save_then_load_round_trips_a_clip(tmp_path):
    """MotionClip.save writes DeepMimic's layout (w, x, y, z); loading it gives the same clip."""
    from mimic.kinematics.character import load_character
    from mimic.kinematics.clip import load_clip

    ch = load_character("humanoid")
    for name in ("humanoid3d_roll", "humanoid3d_kick"):
        a = load_clip(f"motions/{name}.txt", ch)
        a.save(tmp_path / f"{name}.txt")
        b = load_clip(tmp_path / f"{name}.txt", ch)
        assert b.loop == a.loop and b.num_frames == a.num_frames
        np.testing.assert_allclose(b.dts, a.dts, atol=1e-9)
        np.testing.assert_allclose(b.root_pos, a.root_pos, atol=1e-9)
        np.testing.assert_allclose(np.abs(np.sum(b.local_rot * a.local_rot, -1)), 1.0, atol=1e-9)
        np.testing.assert_allclose(b.hinge_angle, a.hinge_angle, atol=1e-9)
