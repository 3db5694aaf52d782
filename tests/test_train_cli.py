"""mimic/train.py + args files: parsing, overrides, early errors that name the culprit, script mode."""

import csv
import os
import shutil
import subprocess
import sys

import pytest

from mimic.cli.argfile import ArgError, parse_args
from mimic.cli.train import main
from mimic.learning.logger import COLUMNS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRACT = [
    "Iteration",
    "Wall_Time",
    "Samples",
    "Train_Return",
    "Test_Return",
    "Train_Episode_Length",
    "Test_Episode_Length",
    "Normalized_Test_Return",
    "Value_Loss",
    "Policy_Loss",
    "Adv_Mean",
    "Adv_Std",
    "Weight_Mean",
    "Weight_Max",
    "Clip_Frac",
    "Sample_Time",
    "Update_Time",
]


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_args_file_comments_lists_and_command_line_override(tmp_path):
    f = _write(
        tmp_path / "a.txt",
        """
# a comment line
--env CartPole-v1          # trailing comment
--agent_config args/agents/awr_imitation.yaml
--actor_net_layers 64 32
--env_kwargs {max_episode_steps: 50, render_mode: null}
--test_env_kwargs {max_episode_steps: 20}
--max_samples 5e4
--actor_lr 1e-4
--resume
""",
    )
    s = parse_args(["--arg_file", f, "--actor_lr=3e-4", "--seed", "4"])
    assert s.env_id == "CartPole-v1" and s.run.seed == 4 and s.run.max_samples == 50000
    assert s.run.resume is True
    assert s.agent.actor_lr == 3e-4  # command line beats file beats YAML
    assert s.agent.actor_net_layers == [64, 32] and s.agent.critic_net_layers == [1024, 512]
    assert s.env_kwargs == {"max_episode_steps": 50, "render_mode": None}
    assert s.test_env_kwargs == {"max_episode_steps": 20, "render_mode": None}


def test_motion_and_character_shortcuts_default_env(tmp_path):
    motion = _write(tmp_path / "walk.txt", open(os.path.join(REPO, "motions", "humanoid3d_walk.txt")).read())
    s = parse_args(
        ["--motion", motion, "--character", "humanoid", "--max_samples", "10", "--test_env_kwargs", "{mode: test}"]
    )
    assert s.env_id == "mimic/Humanoid-v0"
    assert s.env_kwargs == {"motion": motion, "character": "humanoid"}
    assert s.test_env_kwargs == {"motion": motion, "character": "humanoid", "mode": "test"}


@pytest.mark.parametrize(
    "argv, culprit",
    [
        (["--env", "CartPole-v1", "--max_samples", "10", "--bogus_key", "1"], "bogus_key"),
        (["--env", "CartPole-v1", "--max_samples", "lots"], "max_samples"),
        (["--env", "CartPole-v1", "--max_samples", "10", "--actor_lr", "fast"], "actor_lr"),
        (["--env", "CartPole-v1", "--max_samples", "10", "--normalize_adv", "maybe"], "normalize_adv"),
        (["--env", "CartPole-v1", "--max_samples", "10", "--seed", "1", "2"], "seed"),
        (["--env", "CartPole-v1", "--max_samples", "10", "--env_kwargs", "[1, 2]"], "env_kwargs"),
        (["--env", "CartPole-v1", "--max_samples", "10", "--weighting", "magic"], "weighting"),
        (["--env", "CartPole-v1", "--max_samples", "10", "--agent_config", "args/agents/no_such.yaml"], "no_such.yaml"),
        (["--env", "CartPole-v1", "--max_iters", "3", "--dataset", "no_such_data.npz"], "no_such_data.npz"),
        (["--arg_file", "args/no_such_args.txt"], "no_such_args.txt"),
        (["--motion", "no_such_motion_xyz", "--max_samples", "10"], "no_such_motion_xyz"),
        (["--env", "NoSuchEnv-v9", "--max_samples", "10"], "NoSuchEnv-v9"),
        (["--env", "CartPole-v1"], "max_samples"),
    ],
)
def test_errors_name_the_culprit_before_any_sampling(tmp_path, capsys, argv, culprit):
    out = tmp_path / "out"
    assert main(argv + ["--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and culprit in err, err
    assert not out.exists()  # nothing ran


def test_errors_inside_files_name_key_and_file(tmp_path, capsys):
    f = _write(tmp_path / "bad.txt", "--env CartPole-v1\n--max_samples 10\n--not_a_key 3\n")
    assert main(["--arg_file", f]) == 2
    err = capsys.readouterr().err
    assert "not_a_key" in err and "bad.txt:3" in err
    y = _write(tmp_path / "agent.yaml", "actor_steps: many\n")
    with pytest.raises(ArgError, match="actor_steps.*agent.yaml"):
        parse_args(["--env", "CartPole-v1", "--max_samples", "10", "--agent_config", y])
    y = _write(tmp_path / "agent2.yaml", "actor_stepz: 10\n")
    with pytest.raises(ArgError, match="actor_stepz"):
        parse_args(["--env", "CartPole-v1", "--max_samples", "10", "--agent_config", y])


def test_script_mode_from_another_directory(tmp_path):
    """`python mimic/train.py` (sys.path[0] = mimic/) with env kwargs and a test-env override."""
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        os.path.join(REPO, "mimic", "train.py"),
        "--arg_file",
        "args/gym_cartpole.txt",
        "--max_samples",
        "600",
        "--samples_per_iter",
        "300",
        "--actor_steps",
        "10",
        "--critic_steps",
        "10",
        "--env_kwargs",
        "{max_episode_steps: 40}",
        "--test_env_kwargs",
        "{max_episode_steps: 15}",
        "--test_episodes",
        "2",
        "--test_every",
        "1",
        "--plot_every",
        "1",
        "--output_dir",
        str(out),
    ]
    p = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""}
    )
    assert p.returncode == 0, p.stderr
    assert "it     0" in p.stdout  # one console line per iteration
    with open(out / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys())[: len(CONTRACT)] == CONTRACT and COLUMNS[: len(CONTRACT)] == CONTRACT
    assert len(rows) == 2 and all(float(r["Train_Episode_Length"]) <= 40 for r in rows)
    assert all(float(r["Test_Episode_Length"]) <= 15 for r in rows)
    assert all(r["Normalized_Test_Return"] == "" for r in rows)  # CartPole has no max_episode_return
    for name in ("model.pt", "model_000000.pt", "learning_curve.png", "settings.yaml"):
        assert (out / name).exists(), name


@pytest.mark.skipif(shutil.which("mimic-train") is None, reason="entry point not installed")
def test_entry_point_help():
    p = subprocess.run(["mimic-train", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--agent_config" in p.stdout and "--actor_lr" in p.stdout
