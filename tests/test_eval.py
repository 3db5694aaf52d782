"""mimic/eval.py: pose error helper, deterministic evaluation of a checkpoint, CLI / JSON."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest

import mimic  # noqa: F401
from mimic.cli.eval import main as eval_main
from mimic.cli.view import main as view_main
from mimic.evaluation import PoseError, evaluate, format_report, pose_error_deg
from mimic.kinematics.rotations import quat_from_axis_angle, quat_mul


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from mimic.learning import AWR

    kwargs = {"motion": "humanoid3d_walk", "mode": "train"}
    env = gym.make("mimic/Humanoid-v0", **kwargs)
    agent = AWR(
        env,
        {"actor_net_layers": [32], "critic_net_layers": [32], "action_std": 0.05, "actor_init_output_scale": 0.3},
        seed=0,
        verbose=0,
    )
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    agent.save(
        str(path),
        extra={"env_id": "mimic/Humanoid-v0", "env_kwargs": kwargs, "eval_env_kwargs": {**kwargs, "mode": "test"}},
    )
    env.close()
    return str(path)


def test_pose_error_of_known_joint_offsets():
    """Rotating the chest (ball joint) by 20 deg and the right knee (hinge) by 30 deg away from the
    reference gives the DiffWeight-weighted mean of those angles."""
    env = gym.make("mimic/Humanoid-v0", motion="humanoid3d_walk", kinematic=True, mode="test")
    env.reset(seed=0, options={"time": 0.4})
    env.step(np.zeros(env.action_space.shape, np.float32))
    u = env.unwrapped
    assert pose_error_deg(env) == pytest.approx(0.0, abs=0.05)
    ch = u.character
    chest, knee = ch.index("chest"), ch.index("right_knee")
    root, rot, hinge = u.reference_state()
    rot[chest] = quat_mul(rot[chest], quat_from_axis_angle(np.array([1.0, 0, 0]), math.radians(20)))
    hinge[knee] += math.radians(30)
    u.sim.set_state(root, rot[0], rot, hinge)
    w = ch.diff_weights / ch.diff_weights.sum()
    expected = w[chest] * 20 + w[knee] * 30
    assert pose_error_deg(env) == pytest.approx(expected, abs=0.05)
    per_joint = np.degrees(PoseError(ch).angles(u.sim.query(), u.reference_state()[1]))
    assert per_joint[chest] == pytest.approx(20, abs=0.05)
    assert per_joint[knee] == pytest.approx(30, abs=0.05)
    env.close()


def test_evaluation_is_deterministic_for_a_seed(checkpoint):
    a = evaluate(checkpoint, episodes=3, seed=7)
    b = evaluate(checkpoint, episodes=3, seed=7)
    assert a == b
    c = evaluate(checkpoint, episodes=3, seed=8)
    assert [e["ret"] for e in c["per_episode"]] != [e["ret"] for e in a["per_episode"]]
    assert a["episodes"] == 3 and 0.0 <= a["fall_rate"] <= 1.0
    assert a["max_episode_return"] == 600.0
    assert a["normalized_return_mean"] == pytest.approx(a["return_mean"] / 600.0)
    assert a["pose_error_deg"] > 0.0
    assert a["episode_seconds_mean"] == pytest.approx(a["episode_steps_mean"] / 30.0)


def test_failures_are_placed_in_the_clip(checkpoint):
    """Each episode's start and end clip time; the untrained policy falls in every episode, and
    failures_by_clip_time counts each fall in the span of the clip where its episode ended."""
    res = evaluate(checkpoint, episodes=4, seed=0)
    duration = gym.make("mimic/Humanoid-v0", motion="humanoid3d_walk").unwrapped.clip.duration
    spans = res["failures_by_clip_time"]
    assert len(spans) == 8 and spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(duration)
    assert sum(n for *_, n in spans) == res["falls"] + res["sim_unstable"] == 4
    for e in res["per_episode"]:
        assert 0.0 <= e["start_clip_s"] < duration and 0.0 <= e["end_clip_s"] < duration
        gone = (e["end_clip_s"] - e["start_clip_s"]) % duration  # the episode's length, modulo the clip
        assert gone == pytest.approx((e["steps"] / 30.0) % duration, abs=1e-6)
    ends = [e["end_clip_s"] for e in res["per_episode"]]
    assert [n for *_, n in spans] == [sum(a <= t < b for t in ends) for a, b, _ in spans]
    assert "failures end at  clip time" in format_report(res)


def test_kinematic_playback_scores_full_marks():
    res = evaluate(None, motion="humanoid3d_walk", episodes=1, seed=0)
    assert res["episode_steps_mean"] == 600 and res["fall_rate"] == 0.0
    assert res["normalized_return_mean"] > 0.99
    assert res["pose_error_deg"] < 0.1
    assert sum(n for *_, n in res["failures_by_clip_time"]) == 0


def test_cli_prints_and_writes_json(checkpoint, tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert (
        view_main(
            ["--model", checkpoint, "--episodes", "2", "--no_render", "--seed", "3", "--json", str(out), "--quiet"]
        )
        == 0
    )
    text = capsys.readouterr().out
    for word in ("return", "normalised", "episode length", "fall rate", "pose error"):
        assert word in text
    res = json.loads(out.read_text())
    assert res["episodes"] == 2 and res["seed"] == 3 and len(res["per_episode"]) == 2
    assert res == json.loads(json.dumps(evaluate(checkpoint, episodes=2, seed=3)))
    assert eval_main(["--model", str(tmp_path / "missing.pt"), "--episodes", "1"]) == 2
    assert "missing.pt" in capsys.readouterr().err
