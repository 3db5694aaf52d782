"""Keypoints -> pose (mimic.kinematics.retarget): IK reaches targets made by forward kinematics of
known poses, keeps joint limits and rest postures, and foot planting holds stance points still."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mimic.kinematics import rotations as R
from mimic.kinematics.character import REVOLUTE, SPHERICAL
from mimic.kinematics.fk import forward_kinematics
from mimic.kinematics.retarget import IKSolver, contact_runs, detect_contacts, hinge_angles, plant_contacts

DOG_LEGS = [
    f"{s}_{p}"
    for s in ("left", "right")
    for p in ("shoulder", "forearm", "hand", "finger", "upper_leg", "leg", "foot", "toe")
]
PAWS = ["left_finger", "right_finger", "left_toe", "right_toe"]


def _hinge(a):
    return Rotation.from_rotvec(np.outer(a, [0, 0, 1])).as_quat()


def _random_leg_poses(ch, n, rng, bend):
    """Identity poses with the legs bent at random: balls N(0, 0.3) rad, hinges inside limits."""
    rot = np.zeros((n, ch.num_joints, 4))
    rot[..., 3] = 1.0
    for name in DOG_LEGS:
        j = ch.index(name)
        if ch.joint_types[j] == REVOLUTE:
            lo, hi = ch.joint_limits[j]
            rot[:, j] = _hinge(np.sign(lo + hi) * rng.uniform(0.2, bend, n))
        else:
            rot[:, j] = Rotation.from_rotvec(rng.normal(0, 0.3, (n, 3))).as_quat()
    return rot


def _targets(ch, solver, root, rot):
    """World positions of the solver's points and rotations of its orient joints, by scipy."""
    fk = forward_kinematics(ch, root, rot)
    pj = solver.point_joint
    rj = Rotation.from_quat(fk["joint_rot"][:, pj].reshape(-1, 4))
    pts = fk["joint_pos"][:, pj] + rj.apply(np.tile(solver.point_offset, (len(root), 1))).reshape(len(root), -1, 3)
    return pts, fk["joint_rot"][:, solver.orient_joint]


def _bent_start(ch, n):
    rot = np.zeros((n, ch.num_joints, 4))
    rot[..., 3] = 1.0
    for name, a in (("forearm", 0.4), ("leg", -0.4)):
        for side in ("left", "right"):
            rot[:, ch.index(f"{side}_{name}")] = _hinge([a])[0]
    return rot


@pytest.fixture(scope="module")
def paw_solver(dog):
    paws = [(p, [0.012, -0.04, 0.0]) for p in PAWS]
    return IKSolver(dog, DOG_LEGS, paws, orient=PAWS, posture_weight=0.2)


def test_dog_paws_reach_fk_targets_batched_and_in_sequence(dog, paw_solver):
    rng = np.random.default_rng(0)
    n = 24
    root = np.tile([0.0, 0.6, 0.0], (n, 1))
    truth = _random_leg_poses(dog, n, rng, bend=0.9)
    pts, rots = _targets(dog, paw_solver, root, truth)
    start = _bent_start(dog, n)
    res = paw_solver.solve(root, start, pts, rots, iterations=60)
    assert np.median(res.point_error) < 1e-4 and res.point_error.max() < 5e-3
    assert res.rot_error.max() < 0.02
    # a smooth sequence of the same kind, warm-started frame after frame
    t = np.linspace(0, 1, n)[:, None]
    seq = R.quat_slerp(truth[0], truth[1], t)
    pts, rots = _targets(dog, paw_solver, root, seq)
    res = paw_solver.solve_sequence(root, start, pts, rots)
    assert res.point_error.max() < 2e-3 and res.rot_error.max() < 0.02
    step = np.abs(np.diff(res.local_rot, axis=0)).max()
    assert step < 0.1  # continuous: no frame flips to another branch


def test_hinge_limits_hold_when_a_target_asks_for_more(dog):
    """A paw target straight up through the shoulder would need the elbow bent backwards or far
    past its range: every hinge stays inside its URDF limits."""
    solver = IKSolver(dog, DOG_LEGS[:4], [("left_finger", [0, 0, 0])])
    root = np.array([[0.0, 0.6, 0.0]])
    start = _bent_start(dog, 1)
    fk = forward_kinematics(dog, root, start)
    target = fk["joint_pos"][:, [dog.index("left_shoulder")]] + [0.3, 0.05, 0.0]
    res = solver.solve(root, start, target, iterations=100)
    ang = hinge_angles(res.local_rot, dog)[0]
    for j in np.flatnonzero(dog.joint_types == REVOLUTE):
        lo, hi = dog.joint_limits[j]
        assert lo - 1e-9 <= ang[j] <= hi + 1e-9


def test_posture_pull_keeps_targets_and_moves_redundant_joints_to_rest(dog):
    """A hind paw position (3 constraints, 10 dofs): with a posture gain the paw is still on
    target and the pose is nearer the rest posture than without."""
    leg = ["left_upper_leg", "left_leg", "left_foot", "left_toe"]
    root = np.array([0.0, 0.6, 0.0])
    rest = _bent_start(dog, 1)[0]
    rest[dog.index("left_foot")] = Rotation.from_rotvec([0, 0, 0.5]).as_quat()
    target = forward_kinematics(dog, root, rest)["joint_pos"][dog.index("left_toe")] + [0.05, 0.04, 0]
    start = rest.copy()
    start[dog.index("left_foot")] = [0, 0, 0, 1]
    dist = {}
    for gain in (0.0, 0.3):
        s = IKSolver(dog, leg, [("left_toe", [0, 0, 0])], posture_weight=gain)
        res = s.solve(root, start, target[None], rest_rot=rest, iterations=200)
        assert res.point_error.max() < 1e-4
        q = res.local_rot[[dog.index(n) for n in leg]]
        dist[gain] = np.sum(R.quat_angle(R.quat_mul(R.quat_conj(q), rest[[dog.index(n) for n in leg]])) ** 2)
    assert dist[0.3] < 0.5 * dist[0.0]


def test_humanoid_hands_and_feet_with_a_free_root(humanoid):
    """Character-agnostic: the humanoid's wrists and ankles reach targets from a known pose with
    root translation and rotation free."""
    ch = humanoid
    names = ["right_wrist", "left_wrist", "right_ankle", "left_ankle"]
    active = [j for j in ch.actuated]
    solver = IKSolver(
        ch, active, [(n, [0, 0, 0]) for n in names], root_translation=True, root_rotation=True, posture_weight=0.1
    )
    rng = np.random.default_rng(3)
    truth = np.zeros((4, ch.num_joints, 4))
    truth[..., 3] = 1
    for j in ch.actuated:
        if ch.joint_types[j] == SPHERICAL:
            truth[:, j] = Rotation.from_rotvec(rng.normal(0, 0.25, (4, 3))).as_quat()
        else:
            lo, hi = ch.joint_limits[j]
            truth[:, j] = _hinge(np.clip(rng.normal(0.5 * (lo + hi), 0.3, 4), lo, hi))
    truth[:, 0] = Rotation.from_rotvec(rng.normal(0, 0.2, (4, 3))).as_quat()
    root = np.tile([0.1, 0.9, -0.2], (4, 1))
    pts, _ = _targets(ch, solver, root, truth)
    start = np.zeros_like(truth)
    start[..., 3] = 1
    res = solver.solve(np.tile([0.0, 0.85, 0.0], (4, 1)), start, pts, iterations=150)
    assert res.point_error.max() < 1e-4


def test_contacts_detected_and_planted_without_jumps():
    """A paw stepping forward 0.3 m per 1 s cycle (30 frames), loop with root drift 0.3 m:
    stance runs are found (one crossing the wrap), held still on the ground, and the planted
    trajectory has no step bigger than the swing's own steps."""
    n, dt = 30, 1 / 30
    ph = np.arange(n) / n
    swing = (ph > 0.6) & (ph < 0.95)
    s = np.clip((ph - 0.6) / 0.35, 0, 1)
    x = 0.3 * np.where(swing, s * s * (3 - 2 * s), (ph >= 0.95)) + 0.004 * np.sin(9 * ph)
    y = np.where(swing, 0.08 * np.sin(np.pi * s), 0.012)
    pts = np.stack([x, y, np.zeros(n)], axis=1)[:, None]
    mask = detect_contacts(pts, dt, height=0.02, speed=0.5, loop=True)
    runs = contact_runs(mask[:, 0], loop=True)
    assert len(runs) == 1 and runs[0][1] > n  # one stance, across the loop's end
    planted = plant_contacts(pts, mask, loop=True, cycle_offset=[0.3, 0, 0])
    st = mask[:, 0]
    held = np.concatenate([planted[runs[0][0] :, 0], planted[: runs[0][1] - n, 0] + [0.3, 0, 0]])
    assert np.ptp(held, axis=0).max() < 1e-12 and abs(held[0, 1]) < 1e-12
    steps = np.linalg.norm(np.diff(planted[:, 0], axis=0), axis=-1)
    orig = np.linalg.norm(np.diff(pts[:, 0], axis=0), axis=-1)
    assert steps.max() <= 1.5 * orig.max() and st.sum() == runs[0][1] - runs[0][0]


def test_hysteresis_keeps_a_stance_through_a_wobble_and_ends_it_on_lift():
    """A point that touches down, wobbles up to 2.5 cm (above the start threshold, below the
    release one) and then lifts: one stance with hysteresis, two without; a 2-frame touch is
    dropped by min_frames."""
    h = np.array([5, 3, 1, 0, 0, 2.5, 2.5, 0, 0, 0, 4, 6, 0.5, 0.5, 6, 6]) / 100
    pts = np.stack([np.zeros_like(h), h, np.zeros_like(h)], axis=1)[:, None]
    plain = detect_contacts(pts, 1 / 30, height=0.015, speed=1.0, min_frames=3)[:, 0]
    hyst = detect_contacts(pts, 1 / 30, height=0.015, speed=1.0, min_frames=3, release_height=0.03)[:, 0]
    assert contact_runs(plain) == [(2, 5), (7, 10)]
    assert contact_runs(hyst) == [(2, 10)]
    # a fast point is not down, however low
    fast = pts.copy()
    fast[:, 0, 0] = np.arange(len(h)) * 0.05  # 1.5 m/s
    assert not detect_contacts(fast, 1 / 30, height=0.015, speed=1.0).any()


def test_blended_planting_leaves_the_middle_of_long_swings_and_the_clip_ends_alone():
    """Not looping: two stances of a point sliding 1 cm per frame, a 20-frame swing between.
    Stances are held; the swing eases off / on within the blend (or longer, at blend_rate),
    its middle frames keep the source exactly; frames before the first and after the last
    stance ease in / out, with no jump anywhere."""
    n = 50
    x = 0.01 * np.arange(n)
    pts = np.stack([x, np.zeros(n), np.zeros(n)], axis=1)[:, None]
    down = np.zeros((n, 1), dtype=bool)
    down[10:20] = down[40:48] = True
    out = plant_contacts(pts, down, blend=4, blend_rate=0.02)
    assert np.ptp(out[10:20, 0], axis=0).max() < 1e-12
    assert np.ptp(out[40:48, 0], axis=0).max() < 1e-12
    np.testing.assert_allclose(out[20 + 4 : 40 - 4], pts[20 + 4 : 40 - 4], atol=1e-12)
    np.testing.assert_allclose(out[: 10 - 4], pts[: 10 - 4], atol=1e-12)
    steps = np.linalg.norm(np.diff(out[:, 0], axis=0), axis=-1)
    assert steps.max() < 0.035  # source steps are 0.01
    # a correction of 4.5 cm at blend_rate 1 cm/frame takes at least 5 frames, not 4
    far = plant_contacts(pts, down, blend=4, blend_rate=0.01)
    assert np.abs(far[24, 0] - pts[24, 0]).max() > 1e-6
