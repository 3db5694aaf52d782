"""The typed run configuration (mimic.config), its args-file front end (mimic.cli.argfile), the one
clip / character resolver (mimic.paths), the console scripts and the layering of the packages."""

import configparser
import dataclasses
import glob
import importlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mimic.cli.argfile import ArgError, parse_args
from mimic.config import SECTIONS, RunConfig, SamplerConfig, Settings, TaskConfig, usage
from mimic.learning.config import AWRConfig, ConfigError
from mimic.paths import AssetNotFound, resolve_character, resolve_motion

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ==================================================================================== sections
@pytest.mark.parametrize(
    "section, values, culprit",
    [
        (SamplerConfig, {"num_worker": 2}, "num_worker"),  # unknown key
        (RunConfig, {"seed": "three"}, "seed"),  # wrong type
        (RunConfig, {"resume": "perhaps"}, "resume"),
        (TaskConfig, {"env_kwargs": [1, 2]}, "env_kwargs"),
        (SamplerConfig, {"num_workers": 0}, "num_workers"),  # out of range
        (SamplerConfig, {"worker_timeout": -1.0}, "worker_timeout"),
        (SamplerConfig, {"backend": "mpi"}, "backend"),  # not a choice
        (RunConfig, {"test_episodes": -1}, "test_episodes"),
        (RunConfig, {"on_existing": "overwrite"}, "on_existing"),
    ],
)
def test_a_bad_key_or_value_is_named(section, values, culprit):
    with pytest.raises(ConfigError, match=culprit):
        section.from_dict(values, source="test")


def test_values_are_coerced_to_the_field_types():
    r = RunConfig.from_dict({"max_samples": 5e7, "seed": "4", "resume": "true"})
    assert (r.max_samples, r.seed, r.resume) == (50_000_000, 4, True)
    assert type(r.max_samples) is int
    s = SamplerConfig.from_dict({"worker_timeout": 5, "deterministic_sampling": "yes"})
    assert s.worker_timeout == 5.0 and s.deterministic_sampling is True
    assert s.workers(8) == 8 and not s.in_process(8) and s.in_process(1)


def test_cross_section_checks_name_what_is_missing():
    with pytest.raises(ConfigError, match="no environment"):
        Settings(run=RunConfig(max_samples=10)).validate()
    with pytest.raises(ConfigError, match="max_samples"):
        Settings(task=TaskConfig(env="CartPole-v1")).validate()
    with pytest.raises(ConfigError, match="max_iters"):
        Settings(task=TaskConfig(env="CartPole-v1"), run=RunConfig(dataset="d.npz", max_samples=5)).validate()


def test_every_key_is_in_one_section_and_in_the_usage_text():
    keys = [k for s in SECTIONS for k in s.keys()]
    assert len(keys) == len(set(keys)) and not set(keys) & set(AWRConfig.keys())
    text = usage()
    for section in SECTIONS:
        assert f"{section.title} keys:" in text
        for f in dataclasses.fields(section):
            assert f"--{f.name} " in text and f.metadata["help"] in text
    assert "--actor_lr" in text and "--arg_file" in text


def test_help_of_the_script_is_the_generated_usage():
    p = subprocess.run(
        [sys.executable, os.path.join(REPO, "mimic", "train.py"), "--help"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0 and p.stdout.strip() == usage().strip()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "args", "*.txt"))), ids=os.path.basename)
def test_every_shipped_args_file_parses(path):
    s = parse_args(["--arg_file", path, "--max_samples", "10"])
    assert s.env_id is not None
    assert s.to_dict()["run"]["max_samples"] == 10


def test_the_fast_spinkick_file_is_the_benchmarks_leading_configuration():
    """args/humanoid_spinkick_relative.txt is what bench/learning_speed.py measured as
    relative_exp_map_beta0.25_step0.5M_std0.025_at1.8M."""
    sys.path.insert(0, os.path.join(REPO, "bench"))
    learning_speed = importlib.import_module("learning_speed")
    env_kwargs, agent, _ = learning_speed.CONFIGS["relative_exp_map_beta0.25_step0.5M_std0.025_at1.8M"]
    measured = parse_args(
        [
            "--arg_file",
            os.path.join(REPO, learning_speed.ARG_FILE),
            "--env_kwargs",
            str({"mode": "train", **env_kwargs}),
        ]
        + [f"--{key}={value}" for key, value in agent.items()]
    ).to_dict()
    shipped = parse_args(["--arg_file", os.path.join(REPO, "args", "humanoid_spinkick_relative.txt")]).to_dict()
    assert shipped["run"].pop("output_dir") != measured["run"].pop("output_dir")
    assert shipped == measured


def test_the_typed_settings_keep_the_args_file_layout():
    s = parse_args(
        [
            "--env",
            "CartPole-v1",
            "--max_samples",
            "100",
            "--num_workers",
            "2",
            "--deterministic_sampling",
            "--worker_timeout",
            "7",
            "--env_kwargs",
            "{max_episode_steps: 9}",
            "--test_env_kwargs",
            "{max_episode_steps: 3}",
            "--actor_lr",
            "1e-3",
        ]
    )
    assert isinstance(s.task, TaskConfig) and isinstance(s.sampler, SamplerConfig) and isinstance(s.run, RunConfig)
    assert s.sampler.num_workers == 2 and s.sampler.deterministic_sampling and s.sampler.worker_timeout == 7.0
    assert s.env_kwargs == {"max_episode_steps": 9} and s.test_env_kwargs == {"max_episode_steps": 3}
    assert s.agent.actor_lr == 1e-3 and s.agent_overrides == {"actor_lr": 1e-3}


# ==================================================================================== the resolver
def _data_root(tmp_path):
    """A MIMIC_DATA folder with the humanoid and one clip of our own, plus one clip in a subfolder."""
    root = tmp_path / "data"
    (root / "characters").mkdir(parents=True)
    for name in ("humanoid.yaml", "humanoid.urdf"):
        shutil.copy(os.path.join(REPO, "characters", name), root / "characters" / name)
    (root / "motions" / "group").mkdir(parents=True)
    walk = os.path.join(REPO, "motions", "humanoid3d_walk.txt")
    shutil.copy(walk, root / "motions" / "my_walk.txt")
    shutil.copy(walk, root / "motions" / "group" / "deep_walk.txt")
    return root


def test_a_clip_that_passes_validation_loads_from_MIMIC_DATA(tmp_path, monkeypatch):
    from mimic.envs.imitation import ImitationTask

    root = _data_root(tmp_path)
    monkeypatch.setenv("MIMIC_DATA", str(root))
    monkeypatch.chdir(tmp_path)
    s = parse_args(["--motion", "my_walk", "--character", "humanoid", "--max_samples", "10"])
    assert s.env_kwargs == {"motion": "my_walk", "character": "humanoid"}
    task = ImitationTask(1, **s.env_kwargs)  # loading resolves the same names
    assert task.motion_path == root / "motions" / "my_walk.txt"
    assert resolve_character("humanoid") == root / "characters" / "humanoid.yaml"
    assert task.clip.num_frames > 1 and task.character.name == "humanoid"


@pytest.mark.parametrize("motion", ["deep_walk", "no_such_clip_xyz"])
def test_a_clip_that_fails_validation_fails_loading_with_the_same_message(tmp_path, monkeypatch, motion):
    """``deep_walk`` sits in motions/group/: the old validation searched subfolders and passed it,
    then loading failed.  Now both refuse it, with one message."""
    from mimic.envs.imitation import ImitationTask

    monkeypatch.setenv("MIMIC_DATA", str(_data_root(tmp_path)))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssetNotFound) as loading:
        ImitationTask(1, motion=motion)
    with pytest.raises(ArgError) as validation:
        parse_args(["--motion", motion, "--max_samples", "10"])
    assert str(validation.value) == f"{loading.value} (key 'motion')"
    assert motion in str(loading.value) and "my_walk" in str(loading.value)  # names the shipped clips


def test_a_character_that_fails_validation_fails_loading_with_the_same_message(tmp_path, monkeypatch):
    from mimic.kinematics.character import load_character

    monkeypatch.setenv("MIMIC_DATA", str(_data_root(tmp_path)))
    with pytest.raises(AssetNotFound) as loading:
        load_character("dog")  # not in this data folder
    with pytest.raises(ArgError) as validation:
        parse_args(["--motion", "my_walk", "--character", "dog", "--max_samples", "10"])
    assert str(validation.value) == f"{loading.value} (key 'character')"
    assert "known characters: humanoid" in str(loading.value)


def test_paths_are_taken_as_given(tmp_path):
    clip = tmp_path / "walk.txt"
    shutil.copy(os.path.join(REPO, "motions", "humanoid3d_walk.txt"), clip)
    assert resolve_motion(str(clip)) == clip
    assert resolve_character(os.path.join(REPO, "characters", "dog.yaml")).name == "dog.yaml"
    with pytest.raises(AssetNotFound, match="a folder"):
        resolve_motion(str(tmp_path))


# ==================================================================================== scripts, layers
def _console_scripts() -> dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=")) for line in lines)


def test_console_scripts_name_the_cli_front_ends():
    scripts = _console_scripts()
    assert set(scripts) == {"mimic-train", "mimic-view", "mimic-eval", "mimic-plot"}
    for name, target in scripts.items():
        module, func = target.split(":")
        assert module == "mimic.cli." + name.split("-")[1]
        assert callable(getattr(importlib.import_module(module), func))


def test_mimic_eval_entry_point_evaluates_a_clip(tmp_path):
    """What ``mimic-eval`` runs (its setup.cfg target), in a fresh interpreter."""
    module, func = _console_scripts()["mimic-eval"].split(":")
    out = tmp_path / "eval.json"
    code = f"import sys; from {module} import {func} as m; sys.exit(m(sys.argv[1:]))"
    p = subprocess.run(
        [sys.executable, "-c", code, "--motion", "humanoid3d_walk", "--episodes", "1", "--quiet", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert p.returncode == 0, p.stderr
    assert "kinematic playback" in p.stdout and out.exists()


def test_importing_the_learning_package_imports_no_physics():
    code = (
        "import sys, mimic.learning, mimic.config, mimic.cli.argfile; "
        "bad = [m for m in ('pybullet', 'mimic.sim', 'mimic.envs', 'mimic.viewer') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_evaluation_does_not_import_the_viewer():
    code = (
        "import sys, mimic.evaluation, mimic.rebuild, mimic.cli.eval; "
        "sys.exit(1 if 'mimic.viewer' in sys.modules else 0)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert p.returncode == 0, p.stderr


# ==================================================================================== link state
def test_link_state_views_name_pybullets_columns():
    from mimic.kinematics.character import load_character
    from mimic.sim import link_state as L
    from mimic.sim.character import SimCharacter
    from mimic.sim.world import World

    cols = np.zeros(L.SIZE, int)
    for sl in (L.BODY_POS, L.BODY_ROT, L.INERTIAL, L.JOINT_POS, L.JOINT_ROT, L.LIN_VEL, L.ANG_VEL):
        cols[sl] += 1
    assert (cols == 1).all()  # every column named once
    world = World()
    try:
        sim = SimCharacter(world, load_character("humanoid"))
        S = sim.query()
        assert np.shares_memory(S[:, L.JOINT_POS], S)  # a view, not a copy
        np.testing.assert_allclose(np.linalg.norm(S[:, L.BODY_ROT], axis=1), 1.0, atol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(S[:, L.JOINT_ROT], axis=1), 1.0, atol=1e-9)
        import pybullet as pb  # what each name means, from pybullet itself

        for j in (0, 5):
            ls = pb.getLinkState(sim.body, j, computeLinkVelocity=1, physicsClientId=world.client)
            np.testing.assert_allclose(S[j, L.BODY_POS], ls[0])
            np.testing.assert_allclose(S[j, L.JOINT_POS], ls[4])
            np.testing.assert_allclose(S[j, L.JOINT_ROT], ls[5])
            np.testing.assert_allclose(S[j, L.ANG_VEL], ls[7])
        world_row = sim.state_ext[-1]
        assert world_row[L.JOINT_ROT_W] == world_row[L.BODY_ROT_W] == 1.0
    finally:
        world.close()
