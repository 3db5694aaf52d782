"""mimic/view.py: headless videos (kinematic clip, policy checkpoint, dog), GUI under Xvfb, errors.

Real pybullet TinyRenderer images, small sizes. Character pixels are found by colour: the
simulated character is blue-grey (clearly bluer than red, darker than the sky), the reference
ghost orange, the floor neutral grey.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import imageio.v2 as iio
import numpy as np
import pytest

import mimic  # noqa: F401
from mimic.cli.view import main as view_main

REPO = Path(__file__).resolve().parents[1]
VIEW = str(REPO / "mimic" / "view.py")
DOG_CLIP = REPO.parent / "shared" / "reference" / "deepmimic" / "motions" / "dog3d_canter.txt"
W, H = 160, 120


def make_checkpoint(path, motion="humanoid3d_walk", env_id="mimic/Humanoid-v0"):
    """An untrained policy saved the way mimic-train saves one."""
    from mimic.learning import AWR

    kwargs = {"motion": motion, "mode": "train"}
    env = gym.make(env_id, **kwargs)
    agent = AWR(env, {"actor_net_layers": [32], "critic_net_layers": [32], "action_std": 0.05}, seed=0, verbose=0)
    agent.save(str(path), extra={"env_id": env_id, "env_kwargs": kwargs, "eval_env_kwargs": {**kwargs, "mode": "test"}})
    env.close()
    return str(path)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt")


def read_frames(path):
    r = iio.get_reader(str(path))
    frames = [np.asarray(f)[..., :3] for f in r]
    r.close()
    return frames


def character_mask(f):
    f = f.astype(np.int32)
    r, b = f[..., 0], f[..., 2]
    return (b - r > 25) & (r < 140)


def ghost_mask(f):
    f = f.astype(np.int32)
    return (f[..., 0] - f[..., 2] > 50) & (f[..., 0] > 120)


def check_character_video(frames, n, width=W, height=H, min_px=40):
    assert len(frames) == n
    assert all(f.shape == (height, width, 3) for f in frames)
    masks = [character_mask(f) for f in frames]
    counts = [int(m.sum()) for m in masks]
    assert min(counts) >= min_px, f"character missing in some frames: {counts}"
    assert max(f.std() for f in frames) > 20  # not blank
    # moving: the frames differ where the character is
    rows, cols = np.nonzero(np.logical_or.reduce(masks))
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    step = max(1, n // 10)
    diffs = [
        np.abs(frames[i][box].astype(int) - frames[i + step][box].astype(int)).mean() for i in range(0, n - step, step)
    ]
    assert min(diffs) > 1.0, f"character region does not change: {diffs}"
    ious = [
        (masks[i] & masks[i + step]).sum() / max(1, (masks[i] | masks[i + step]).sum())
        for i in range(0, n - step, step)
    ]
    assert min(ious) < 0.9, ious


def test_kinematic_walk_video(tmp_path):
    out = tmp_path / "walk.mp4"
    assert (
        view_main(
            [
                "--motion",
                "humanoid3d_walk",
                "--video",
                str(out),
                "--seconds",
                "3",
                "--width",
                str(W),
                "--height",
                str(H),
                "--quiet",
            ]
        )
        == 0
    )
    check_character_video(read_frames(out), 90)


def test_policy_video_script_with_ghost(tmp_path, checkpoint):
    """``python mimic/view.py --model ...`` as users run it: the checkpoint rebuilds its env."""
    out = tmp_path / "policy.mp4"
    p = subprocess.run(
        [
            sys.executable,
            VIEW,
            "--model",
            checkpoint,
            "--video",
            str(out),
            "--seconds",
            "3",
            "--width",
            str(W),
            "--height",
            str(H),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "rendering policy.mp4" in p.stderr  # progress bar
    frames = read_frames(out)
    check_character_video(frames, 90)
    # the reference ghost, visible wherever the character is off the reference (it coincides
    # with it at episode starts)
    assert sum(int(ghost_mask(f).sum()) >= 20 for f in frames) >= 0.7 * len(frames)


def test_fps_resampling_and_gif(tmp_path):
    out = tmp_path / "walk.gif"
    assert (
        view_main(
            [
                "--motion",
                "humanoid3d_walk",
                "--video",
                str(out),
                "--seconds",
                "1.2",
                "--fps",
                "20",
                "--width",
                "96",
                "--height",
                "72",
                "--ghost",
                "beside",
                "--no_text",
                "--quiet",
            ]
        )
        == 0
    )
    frames = read_frames(out)
    assert len(frames) == 24 and frames[0].shape == (72, 96, 3)
    from PIL import Image

    assert Image.open(out).info["duration"] == 50  # 20 fps
    assert all(ghost_mask(f).sum() > 10 for f in frames)  # ghost beside


def test_frames_follow_simulated_time():
    """fps != 30: frame k shows the state nearest to k / fps (repeated / skipped states)."""
    import mimic.viewer as viewer
    from mimic.viewer import Player, record_video

    shown = []

    class Writer:
        def append_data(self, frame):
            shown.append(round(player.time, 6))

        def close(self):
            pass

    env = gym.make("mimic/Humanoid-v0", motion="humanoid3d_walk", kinematic=True, mode="test")
    player = Player(env)
    real = viewer.open_writer
    viewer.open_writer = lambda *a, **k: Writer()
    try:
        record_video(
            player, "x.mp4", seconds=0.5, fps=60, width=32, height=24, ghost_mode="off", text=False, progress=False
        )
        n60 = list(shown)
        shown.clear()
        record_video(
            player, "x.mp4", seconds=1.0, fps=10, width=32, height=24, ghost_mode="off", text=False, progress=False
        )
    finally:
        viewer.open_writer = real
        env.close()
    assert len(n60) == 30 and all(abs(t - k / 60) <= 1 / 60 + 1e-6 for k, t in enumerate(n60))
    assert shown == pytest.approx([k / 10 for k in range(10)], abs=1e-6)


def test_env_render_rgb_array():
    env = gym.make(
        "mimic/Humanoid-v0",
        motion="humanoid3d_walk",
        mode="test",
        render_mode="rgb_array",
        render_width=64,
        render_height=48,
    )
    env.reset(seed=0)
    img = env.render()
    env.close()
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert character_mask(img).sum() > 20


@pytest.mark.skipif(not DOG_CLIP.is_file(), reason="DeepMimic dog clips not available")
def test_dog_clip_kinematic_video(tmp_path):
    out = tmp_path / "dog.mp4"
    assert (
        view_main(
            [
                "--motion",
                str(DOG_CLIP),
                "--video",
                str(out),
                "--seconds",
                "1",
                "--width",
                str(W),
                "--height",
                str(H),
                "--quiet",
            ]
        )
        == 0
    )
    check_character_video(read_frames(out), 30)


# ------------------------------------------------------------------------------- errors
def run_view(args):
    p = subprocess.run([sys.executable, VIEW] + args, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("mimic-view: error:"), err
    for n in needles:
        assert n in last, last


def test_missing_and_corrupt_model(tmp_path):
    code, err = run_view(["--model", str(tmp_path / "nope.pt"), "--video", "x.mp4"])
    assert_one_line_error(code, err, "nope.pt", "no such file")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    code, err = run_view(["--model", str(bad), "--no_render", "--episodes", "1"])
    assert_one_line_error(code, err, "corrupt.pt", "not a readable mimic checkpoint")


def test_model_of_other_spaces(tmp_path, capsys):
    """A checkpoint whose observation / action sizes do not fit the env it names."""
    from mimic.learning import AWR

    env = gym.make("Pendulum-v1")
    agent = AWR(env, {"actor_net_layers": [8], "critic_net_layers": [8]}, seed=0, verbose=0)
    path = tmp_path / "other.pt"
    agent.save(str(path), extra={"env_id": "mimic/Humanoid-v0", "env_kwargs": {"motion": "humanoid3d_walk"}})
    assert view_main(["--model", str(path), "--video", str(tmp_path / "x.mp4"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "other.pt" in err and "observations of size 3" in err and "actions of size 1" in err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.skipif(not DOG_CLIP.is_file(), reason="DeepMimic dog clips not available")
def test_humanoid_model_with_dog_clip(checkpoint, tmp_path, capsys):
    code = view_main(["--model", checkpoint, "--motion", str(DOG_CLIP), "--video", str(tmp_path / "x.mp4")])
    assert_one_line_error(code, capsys.readouterr().err, "model.pt", "humanoid", "dog3d_canter.txt", "dog clip")


# ------------------------------------------------------------------------------- GUI
@pytest.fixture
def xvfb_display():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed")
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as f:
        num = f.readline().strip()
    if not num:
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{num}"
    proc.terminate()
    proc.wait(timeout=10)


def test_gui_session_under_xvfb(tmp_path, checkpoint, xvfb_display):
    shot = tmp_path / "shot.png"
    env = dict(os.environ, DISPLAY=xvfb_display)
    p = subprocess.run(
        [
            sys.executable,
            VIEW,
            "--model",
            checkpoint,
            "--seconds",
            "0.2",
            "--screenshot",
            str(shot),
            "--quiet",
            "--gui_options=--width=480 --height=360",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    line = [s for s in p.stdout.splitlines() if s.startswith("screenshot saved")][0]
    px = {k: int(v) for k, v in zip(("character", "ghost"), [w for w in line.replace("(", " ").split() if w.isdigit()])}
    # > 150 px: the character is on screen (195 px for this untrained walk policy 0.2 s into its
    # episode, the ghost 330). Known issue: the window's follow camera frames the character
    # farther away than intended at 480x360.
    assert px["character"] > 150 and px["ghost"] > 150, line
    img = iio.imread(shot)
    assert img.ndim == 3 and img.shape[0] > 100 and img[..., :3].std() > 10
