"""The shipped dog clips (motions/dog_*.txt) and how they were made: Laikago forward kinematics
against pybullet, retargeting a real capture, the gait generator, and the clips' quality figures
(ground penetration, planted paws, loop closure, footfalls) measured here from the clip files."""

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from conftest import MOTIONS, REPO, pybullet_file

import mimic  # noqa: F401
from mimic.kinematics import rotations as R
from mimic.kinematics.clip import ClipError, load_clip
from mimic.kinematics.fk import forward_kinematics, lowest_point
from mimic.kinematics.quadruped import LEG_JOINTS, SOLE

DOG_SHIPPED = ("dog_canter", "dog_trot", "dog_pace", "dog_turn")
CAPTURE = REPO / "tests" / "data" / "motion_imitation_dog_trot.txt"
LF, RF, LH, RH = range(4)


def soles(clip):
    """World sole positions [N, 4, 3] of the paws (legs LF, RF, LH, RH) over a clip's frames."""
    ch = clip.character
    fk = forward_kinematics(ch, clip.root_pos, clip.local_rot)
    paws = [ch.index(chain[-1]) for chain in LEG_JOINTS]
    off = np.array([SOLE[chain[-1].split("_", 1)[1]] for chain in LEG_JOINTS])
    return fk["joint_pos"][:, paws] + R.quat_rotate(fk["joint_rot"][:, paws], off)


def stance(clip, height=0.01):
    """[N - 1, 4] paws down (sole within ``height`` of the ground) over one cycle."""
    return soles(clip)[:-1, :, 1] < height


def touchdowns(down):
    """Per leg, the frames where a stance starts (cyclically)."""
    return [np.flatnonzero(down[:, i] & ~np.roll(down[:, i], 1)) for i in range(4)]


@pytest.fixture(scope="module", params=DOG_SHIPPED)
def shipped(request, dog):
    return load_clip(MOTIONS / f"{request.param}.txt", dog)


def test_shipped_clips_play_kinematically_with_full_reward(shipped):
    env = gym.make("mimic/Dog-v0", motion=shipped.name, kinematic=True, mode="test")
    env.reset(seed=0, options={"time": 0.9 * shipped.duration})  # crosses the loop's wrap
    rewards = [env.step(env.action_space.sample())[1] for _ in range(40)]
    env.close()
    assert np.mean(rewards) >= 0.99 and np.min(rewards) >= 0.99


def test_no_body_below_the_ground_and_the_loop_closes(shipped):
    ch = shipped.character
    fk = forward_kinematics(ch, shipped.root_pos, shipped.local_rot)
    low = [lowest_point(ch, fk["joint_pos"][i], fk["joint_rot"][i]) for i in range(shipped.num_frames)]
    assert min(low) > -0.02
    # the last frame is frame 0 one cycle on: same joint rotations, root moved by the drift
    wrap = R.quat_angle(R.quat_mul(R.quat_conj(shipped.local_rot[-1]), shipped.local_rot[0]))
    steps = R.quat_angle(R.quat_mul(R.quat_conj(shipped.local_rot[1:]), shipped.local_rot[:-1]))
    assert wrap[1:].max() <= np.median(steps.max(axis=1)) + 1e-6
    assert shipped.loop


def test_paws_stay_planted_in_stance(shipped):
    """Stance: sole within 1 cm of the ground and slower than 0.3 m/s."""
    from mimic.kinematics.retarget import contact_runs, detect_contacts

    p = soles(shipped)[:-1]
    down = detect_contacts(p, shipped.dts[0], height=0.01, speed=0.3, loop=True)
    assert down.any(axis=0).all()
    for leg in range(4):
        for a, b in contact_runs(down[:, leg], loop=True):
            idx = np.arange(a, b)
            shift = (idx // len(p))[:, None] * shipped.cycle_delta
            run = p[idx % len(p), leg] + shift
            assert np.ptp(run[:, [0, 2]], axis=0).max() < 0.03


def test_footfalls_match_the_gaits(dog):
    def phase_gap(down, a, b):
        ta, tb = touchdowns(down)[a][0], touchdowns(down)[b][0]
        return ((tb - ta) / len(down)) % 1.0

    trot = stance(load_clip(MOTIONS / "dog_trot.txt", dog))
    pace = stance(load_clip(MOTIONS / "dog_pace.txt", dog))
    canter = stance(load_clip(MOTIONS / "dog_canter.txt", dog))

    # trot: the diagonal pairs move together (both down or both up) far more of the cycle than
    # the lateral pairs, the two diagonals half a cycle apart; pace: the other way round
    def agree(down, pairs):
        return [(down[:, a] == down[:, b]).mean() for a, b in pairs]

    diagonal, lateral = ((LF, RH), (RF, LH)), ((LF, LH), (RF, RH))
    assert min(agree(trot, diagonal)) > max(agree(trot, lateral)) + 0.3
    assert min(agree(pace, lateral)) > max(agree(pace, diagonal)) + 0.3
    for down in (trot, pace):
        assert abs(phase_gap(down, LF, RF) - 0.5) < 0.12
    # canter, right lead: left hind, then right hind with left fore, then right fore, then a
    # moment with no paw down
    td = [touchdowns(canter)[leg][0] for leg in (LH, RH, LF, RF)]
    order = np.argsort([(t - td[0]) % len(canter) for t in td])
    assert list(order[[0, 3]]) == [0, 3] and set(order[1:3]) == {1, 2}
    assert (canter.sum(axis=1) == 0).any()


def test_a_dog_clip_for_the_humanoid_and_back_is_refused_with_both_widths():
    with pytest.raises(ClipError, match=r"84 values.*44"):
        gym.make("mimic/Humanoid-v0", motion="dog_canter")
    with pytest.raises(ClipError, match=r"44 values.*84"):
        gym.make("mimic/Dog-v0", motion="humanoid3d_walk")


def test_random_actions_make_the_dog_fall_on_a_fall_contact_body():
    import pybullet as pb

    env = gym.make("mimic/Dog-v0", motion="dog_canter", mode="test")
    u = env.unwrapped
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    mean, std = u.action_norm
    for _ in range(300):
        a = (mean + std * rng.normal(0, 0.5, len(mean))).astype(np.float32)
        _, _, term, trunc, info = env.step(a)
        if term:
            break
    assert term and info["fallen"] and not trunc
    touching = {c[3] for c in pb.getContactPoints(bodyA=u.sim.body, physicsClientId=u.world.client)}
    assert touching & set(np.flatnonzero(u.character.fall_contact))
    env.close()


# ------------------------------------------------------------------------- how they are made


def test_urdf_forward_kinematics_matches_pybullet():
    """Laikago link frames from mimic.kinematics.urdf_fk equal pybullet's for captured frames."""
    import pybullet as pb

    from mimic.kinematics.laikago import laikago_urdf, read_motion_imitation
    from mimic.kinematics.urdf_fk import UrdfRobot

    urdf = pybullet_file("pybullet_data", "laikago", "laikago_toes_limits.urdf")
    assert urdf == laikago_urdf()
    clip = read_motion_imitation(CAPTURE.read_text(), CAPTURE.name)
    robot = UrdfRobot(urdf)
    pos, rot = robot.link_frames(clip.frames[:, :3], clip.frames[:, 3:7], clip.frames[:, 7:])
    cid = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(str(urdf), physicsClientId=cid)
        movable = [
            j
            for j in range(pb.getNumJoints(body, physicsClientId=cid))
            if pb.getJointInfo(body, j, physicsClientId=cid)[2] != pb.JOINT_FIXED
        ]
        for f in (0, 11, 27):
            fr = clip.frames[f]
            pb.resetBasePositionAndOrientation(body, fr[:3], fr[3:7], physicsClientId=cid)
            for j, a in zip(movable, fr[7:]):
                pb.resetJointState(body, j, a, physicsClientId=cid)
            for j in range(pb.getNumJoints(body, physicsClientId=cid)):
                ls = pb.getLinkState(body, j, computeForwardKinematics=1, physicsClientId=cid)
                np.testing.assert_allclose(pos[f, j + 1], ls[4], atol=1e-5)
                assert abs(abs(np.dot(rot[f, j + 1], ls[5])) - 1) < 1e-5  # pybullet: float32
    finally:
        pb.disconnect(cid)


def test_retargeting_the_real_capture_plants_paws_and_reaches_them(dog, tmp_path):
    from mimic.kinematics.laikago import laikago_keypoints, leg_length, read_motion_imitation
    from mimic.kinematics.quadruped import from_keypoints, loop_cycles, solve_dog

    clip = read_motion_imitation(CAPTURE.read_text(), CAPTURE.name)
    motion = from_keypoints(dog, loop_cycles(laikago_keypoints(clip)), leg_length())
    assert motion.contacts[:-1].any(axis=0).all()  # every paw has a stance
    root, rot, res = solve_dog(dog, motion)
    assert res.point_error.max() < 2e-3 and res.rot_error.max() < 0.05
    # the trot's diagonal pairs, as in the capture
    down = motion.contacts[:-1]
    assert (down[:, LF] == down[:, RH]).mean() > 0.7 and (down[:, RF] == down[:, LH]).mean() > 0.7
    assert (down[:, LF] & down[:, RF]).mean() < 0.2


def test_make_gait_writes_a_canter_and_refuses_bad_parameters(tmp_path, dog):
    out = tmp_path / "my_canter.txt"
    cmd = [
        sys.executable,
        str(REPO / "mimic" / "make_gait.py"),
        "--gait",
        "canter",
        "--speed",
        "3.0",
        "--out",
        str(out),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    clip = load_clip(out, dog)
    assert clip.loop and abs(clip.cycle_delta[0] - 3.0 * clip.duration) < 1e-6
    bad = tmp_path / "bad.txt"
    run = subprocess.run(cmd[:-4] + ["--duty", "1.5", "--out", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2 and "duty" in run.stderr and "1.5" in run.stderr
    assert not bad.exists()
    json.loads(out.read_text())


def test_gait_parameters_are_checked_by_name(dog):
    from mimic.kinematics.gait import GaitError, GaitParams, generate

    with pytest.raises(GaitError, match="speed 6 m/s x cycle_time"):
        generate(dog, GaitParams.for_gait("canter", speed=6.0))  # a stride the legs can't span
    with pytest.raises(GaitError, match="swing_height"):
        GaitParams.for_gait("trot", swing_height=0.5)
    with pytest.raises(GaitError, match="phases"):
        GaitParams.for_gait("canter", phases=(0.1, 0.2, 1.3, 0.0))
    with pytest.raises(GaitError, match="unknown gait 'gallop'"):
        GaitParams.for_gait("gallop")


@pytest.mark.parametrize(
    "env_id, motion",
    [("mimic/Dog-v0", "dog_canter"), ("mimic/Dog-v0", "dog_turn"), ("mimic/Humanoid-v0", "humanoid3d_cartwheel")],
)
def test_follow_camera_frames_the_whole_character(env_id, motion):
    """The viewer's camera (distance and target from the character's size, following with the
    videos' smoothing) keeps every pixel of the character inside the image, head and tail
    included, at poses through two cycles of the clip."""
    from mimic.sim.camera import FollowCamera, scene_renderer
    from mimic.viewer import Player, camera_distance

    env = gym.make(env_id, motion=motion, kinematic=True, mode="test")
    player = Player(env)
    player.reset()
    u = player.u
    camera = FollowCamera(distance=camera_distance(u))
    camera.follow(player.camera_target())
    steps = int(2 * u.clip.duration / u.control_dt)
    for k in range(steps):
        player.step()
        camera.follow(player.camera_target(), u.control_dt)
        if k % max(1, steps // 6):
            continue
        _, _, seg = scene_renderer(u.world).capture(camera, 160, 120)
        body = (seg & ((1 << 24) - 1)) == u.sim.body
        assert body.sum() > 150  # in view, not a speck
        assert not (body[0].any() or body[-1].any() or body[:, 0].any() or body[:, -1].any())
    env.close()


def test_make_dog_clips_retargets_a_capture_folder_and_refuses_a_bad_source(tmp_path, dog):
    script = str(REPO / "mimic" / "make_dog_clips.py")
    run = subprocess.run(
        [
            sys.executable,
            script,
            "--sdist",
            str(REPO / "tests" / "data"),
            "--clips",
            "my_trot=motion_imitation_dog_trot",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr
    clip = load_clip(tmp_path / "my_trot.txt", dog)
    assert clip.loop and clip.num_frames == 34 and clip.cycle_delta[0] > 0.9
    run = subprocess.run(
        [sys.executable, script, "--sdist", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode == 2 and "nowhere" in run.stderr and "dog_trot" in run.stderr
    assert not (tmp_path / "out").exists()


def test_view_writes_a_contact_sheet_of_eight_poses(tmp_path):
    from PIL import Image

    from mimic.cli.view import main

    out = tmp_path / "trot.png"
    assert main(["--motion", "dog_trot", "--contact_sheet", str(out), "--width", "160", "--height", "120"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (240, 640, 3)
    tiles = [img[r : r + 120, c : c + 160] for r in (0, 120) for c in range(0, 640, 160)]
    assert len(tiles) == 8 and all(t.std() > 10 for t in tiles)
    assert len({t.tobytes() for t in tiles}) == 8  # eight different poses


@pytest.mark.parametrize("name", ["dog_canter", "dog_trot", "dog_turn"])
def test_dog_args_files_build_the_dog_with_the_humanoids_agent(name):
    from mimic.cli.argfile import parse_args

    s = parse_args(["--arg_file", str(REPO / "args" / f"{name}.txt")])
    walk = parse_args(["--arg_file", str(REPO / "args" / "humanoid_walk.txt")])
    assert s.env_id == "mimic/Dog-v0" and s.env_kwargs["motion"] == name
    # the humanoid's AWR settings, plus the observation clip (args/dog_*.txt says why)
    assert s.agent.obs_clip == 10.0 and walk.agent.obs_clip is None
    assert s.agent.to_dict() | {"obs_clip": None} == walk.agent.to_dict()
    env = gym.make(s.env_id, **s.env_kwargs)
    assert env.unwrapped.clip.name == name and env.action_space.shape == (76,)
    env.close()
