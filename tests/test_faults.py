"""Fault suite (issue 14): bad inputs and faults across clips, args, checkpoints, datasets, output
folders, env options, signals, disks and workers.

Every bad input must end in one line ``mimic-<prog>: error: <what>: <why>`` naming the culprit,
exit code 2, no traceback, and no file written or changed (the whole tmp folder, which is also
the working directory, is compared before and after).  The inputs are real: clips edited from
motions/humanoid3d_walk.txt, checkpoints and datasets written by real mimic-train runs (then
truncated, overwritten or edited), real folders and permissions.  Runtime faults (signals, a
full disk, killed workers) run mimic-train as a subprocess and check its exit code, its one-line
message and that model.pt still loads.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
WALK = REPO / "motions" / "humanoid3d_walk.txt"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CARTPOLE = [
    "--env",
    "CartPole-v1",
    "--samples_per_iter",
    "100",
    "--actor_steps",
    "2",
    "--critic_steps",
    "2",
    "--actor_net_layers",
    "8",
    "--critic_net_layers",
    "8",
    "--test_episodes",
    "0",
    "--plot_every",
    "0",
    "--verbose",
    "0",
    "--num_workers",
    "1",
    "--iters_per_checkpoint",
    "1",
]
HUMANOID = [
    "--motion",
    "humanoid3d_walk",
    "--samples_per_iter",
    "32",
    "--actor_steps",
    "1",
    "--critic_steps",
    "1",
    "--actor_net_layers",
    "8",
    "--critic_net_layers",
    "8",
    "--test_episodes",
    "0",
    "--plot_every",
    "0",
    "--verbose",
    "0",
    "--num_workers",
    "1",
]
READ_ONLY = "/proc/mimic_faults"  # not writable, even for root


# ==================================================================================== real inputs
def _frames():
    return json.loads(WALK.read_text())


def _clip(edit):
    def make(d: Path) -> str:
        data = _frames()
        edit(data)
        p = d / "bad_clip.txt"
        p.write_text(json.dumps(data))
        return str(p)

    return make


def _set(f, c, v):
    def edit(data):
        data["Frames"][f][c] = v

    return edit


def _all_dt(v):
    def edit(data):
        for fr in data["Frames"]:
            fr[0] = v

    return edit


def _long(data):
    data["Frames"] = [list(data["Frames"][i % len(data["Frames"])]) for i in range(700)]
    for fr in data["Frames"]:
        fr[0] = 1.0


def _raw(text: bytes, name="bad_clip.txt"):
    def make(d: Path) -> str:
        p = d / name
        p.write_bytes(text)
        return str(p)

    return make


def _folder(d: Path) -> str:
    p = d / "clip_folder.txt"
    p.mkdir()
    return str(p)


CLIPS = {  # name: (maker, culprit in the message)
    "huge_root": (_clip(_set(3, 1, 1e308)), "frame 3, column 1 (root_pos.x)"),
    "big_hinge": (_clip(_set(5, 12, 2e4)), "frame 5, column 12"),
    "nan": (_clip(_set(2, 2, float("nan"))), "frame 2, column 2"),
    "tiny_dt": (_clip(_all_dt(1e-12)), "column 0 (dt)"),
    "zero_dt": (_clip(_set(4, 0, 0.0)), "frame 4, column 0 (dt) must be positive"),
    "negative_dt": (_clip(_set(1, 0, -0.03)), "frame 1, column 0 (dt)"),
    "huge_dt": (_clip(_set(1, 0, 50.0)), "frame 1, column 0 (dt) is 50"),
    "too_long": (_clip(_long), "more than 600 s"),
    "string_value": (_clip(_set(0, 5, "x")), "frame 0, column 5"),
    "short_frame": (_clip(lambda d: d["Frames"][7].pop()), "frame 7 has"),
    "zero_quat": (_clip(lambda d: d["Frames"][6].__setitem__(slice(4, 8), [0, 0, 0, 0])), "frame 6"),
    "one_frame": (_clip(lambda d: d.__setitem__("Frames", d["Frames"][:1])), "at least 2 frames"),
    "no_frames": (_clip(lambda d: d.pop("Frames")), "'Frames'"),
    "bad_loop": (_clip(lambda d: d.__setitem__("Loop", "forever")), "'Loop'"),
    "not_json": (_raw(b"Frames: [1, 2]\n"), "not valid JSON"),
    "binary": (_raw(bytes(range(256)) * 4), "not a text file"),
    "empty": (_raw(b""), "not valid JSON"),
    "folder": (_folder, "a folder"),
}


@pytest.fixture(scope="session")
def cartpole_run(tmp_path_factory):
    """A finished 2-iteration CartPole run (model.pt, model_00000X.pt, log.csv)."""
    from mimic.cli.train import main

    out = tmp_path_factory.mktemp("runs") / "cartpole"
    assert main(CARTPOLE + ["--max_iters", "2", "--output_dir", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def humanoid_run(tmp_path_factory):
    from mimic.cli.train import main

    out = tmp_path_factory.mktemp("runs") / "humanoid"
    assert main(HUMANOID + ["--max_iters", "1", "--output_dir", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def dataset_file(tmp_path_factory):
    from mimic.cli.train import main

    path = tmp_path_factory.mktemp("data") / "cartpole.npz"
    assert main(["--env", "CartPole-v1", "--record_dataset", str(path), "--record_samples", "200"]) == 0
    return path


def _edited_dataset(edit):
    def make(d: Path, src: Path) -> str:
        with np.load(src) as z:
            arrays = {k: z[k] for k in z.files}
        edit(arrays)
        p = d / "bad_data.npz"
        np.savez(p, **arrays)
        return str(p)

    return make


def _nan_at(key, row):
    def edit(a):
        a[key] = a[key].astype(np.float32)
        a[key][row] = np.nan

    return edit


def _truncated(d: Path, src: Path) -> str:
    p = d / "bad_data.npz"
    p.write_bytes(src.read_bytes()[:300])
    return str(p)


DATASETS = {
    "nan_obs": (_edited_dataset(_nan_at("obs", 17)), "'obs' row 17 is not finite"),
    "nan_reward": (_edited_dataset(_nan_at("rewards", 3)), "'rewards' row 3"),
    "inf_final_obs": (_edited_dataset(lambda a: a["final_obs"].__setitem__((0, 1), np.inf)), "'final_obs' row 0"),
    "no_obs": (_edited_dataset(lambda a: a.pop("obs")), "no array obs"),
    "no_meta": (_edited_dataset(lambda a: a.pop("meta")), "no array meta"),
    "bad_meta": (_edited_dataset(lambda a: a.__setitem__("meta", np.array("{oops"))), "'meta'"),
    "short_actions": (_edited_dataset(lambda a: a.__setitem__("actions", a["actions"][:-5])), "'actions' has"),
    "bad_lengths": (
        _edited_dataset(lambda a: a.__setitem__("episode_lengths", a["episode_lengths"] + 1)),
        "'obs' has shape",
    ),
    "truncated": (_truncated, "not a readable .npz"),
    "text": (lambda d, src: _raw(b"obs,actions\n1,2\n", "bad_data.npz")(d), "not a readable .npz"),
}


def _ckpt_variant(kind):
    """Turn <tmp>/run/model.pt (a copy of a real run) into a damaged one."""

    def make(run: Path):
        p = run / "model.pt"
        if kind == "truncated":
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        elif kind == "random":
            p.write_bytes(np.random.default_rng(0).bytes(4096))
        elif kind == "empty":
            p.write_bytes(b"")
        elif kind == "folder":
            p.unlink()
            p.mkdir()
        elif kind == "not_mimic":
            torch.save({"weights": torch.zeros(3)}, p)
        elif kind == "format":
            s = torch.load(p, weights_only=True)
            s["format"] = "mimic-awr-0"
            torch.save(s, p)
        elif kind == "no_model":
            p.unlink()

    return make


# ==================================================================================== helpers
def snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def run_cli(prog: str, argv: list, capsys) -> tuple[int, str, str]:
    import mimic.cli.eval
    import mimic.cli.train
    import mimic.cli.view

    mod = {"train": mimic.cli.train, "view": mimic.cli.view, "eval": mimic.cli.eval}[prog]
    try:
        rc = mod.main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean_refusal(prog, argv, culprit, tmp_path, capsys, code=2):
    before = snapshot(tmp_path)
    rc, out, err = run_cli(prog, argv, capsys)
    assert rc == code, (rc, out, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith(f"mimic-{prog}: error: "), err
    assert sum("error" in ln for ln in lines) == 1, err
    assert culprit in lines[-1], (culprit, err)
    assert "Traceback" not in out + err
    assert snapshot(tmp_path) == before, "files were written or changed"


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative default outputs would land here (and be seen)
    return tmp_path


# ==================================================================================== clips
@pytest.mark.parametrize("prog", ["train", "view", "eval"])
@pytest.mark.parametrize("name", sorted(CLIPS))
def test_bad_clip_is_refused_before_any_world(prog, name, cwd, capsys):
    maker, culprit = CLIPS[name]
    clip = maker(cwd)
    argv = (
        ["--motion", clip, "--max_samples", "100", "--output_dir", str(cwd / "out")]
        if prog == "train"
        else ["--motion", clip, "--video", str(cwd / "v.mp4")]
        if prog == "view"
        else ["--motion", clip, "--json", str(cwd / "e.json")]
    )
    assert_clean_refusal(prog, argv, culprit, cwd, capsys)


@pytest.mark.parametrize("name", ["huge_root", "tiny_dt", "binary", "folder", "nan"])
def test_bad_clip_through_gymnasium_is_a_clip_error(name, tmp_path):
    import gymnasium as gym

    import mimic  # noqa: F401

    maker, culprit = CLIPS[name]
    with pytest.raises((ValueError, FileNotFoundError)) as e:
        gym.make("mimic/Humanoid-v0", motion=maker(tmp_path))
    msg = str(e.value)
    assert culprit in msg and ("bad_clip" in msg or "clip_folder" in msg), msg


# ==================================================================================== train args
@pytest.mark.parametrize(
    "extra, culprit",
    [
        (["--seed", "-1"], "--seed -1"),
        (["--seed", str(2**32)], f"--seed {2**32}"),
        (["--max_samples", "0"], "--max_samples 0"),
        (["--max_samples", "-5"], "--max_samples -5"),
        (["--max_iters", "-1"], "--max_iters -1"),
        (["--max_iters", "0"], "--max_iters 0"),
        (["--on_existing", "overwrite"], "--on_existing 'overwrite'"),
        (["--resume", "--on_existing", "move_aside"], "--resume with --on_existing move_aside"),
        (["--output_dir", READ_ONLY], "cannot write in '/proc'"),
        (["--env_kwargs", "{bogus_option: 1}"], "bogus_option"),
    ],
    ids=lambda v: v if isinstance(v, str) else "_".join(v).strip("-"),
)
def test_bad_train_argument(extra, culprit, cwd, capsys):
    argv = CARTPOLE + ["--max_samples", "200", "--output_dir", str(cwd / "out")] + extra
    assert_clean_refusal("train", argv, culprit, cwd, capsys)


@pytest.mark.parametrize(
    "kwargs, culprit",
    [
        ("{control_rate: 0}", "control_rate must be a positive number"),
        ("{sim_rate: -240}", "sim_rate must be a positive number"),
        ("{time_limit: 0}", "time_limit"),
        ("{control_rate: 7}", "multiple of control_rate"),
        ("{anneal_samples: -1}", "anneal_samples"),
    ],
)
def test_bad_env_option(kwargs, culprit, cwd, capsys):
    argv = HUMANOID + ["--max_samples", "100", "--env_kwargs", kwargs, "--output_dir", str(cwd / "out")]
    assert_clean_refusal("train", argv, culprit, cwd, capsys)


# ==================================================================================== output folders
def _place(kind, d: Path, run: Path) -> Path:
    out = d / "out"
    if kind == "previous_run":
        shutil.copytree(run, out)
    elif kind == "file":
        out.write_text("not a folder")
    elif kind == "under_file":
        (d / "afile").write_text("x")
        out = d / "afile" / "out"
    elif kind == "log_without_model":
        shutil.copytree(run, out)
        for p in out.glob("model*.pt"):
            p.unlink()
    elif kind == "periodic_without_model":
        shutil.copytree(run, out)
        (out / "model.pt").unlink()
    return out


@pytest.mark.parametrize(
    "kind, extra, culprit",
    [
        ("previous_run", [], "holds a previous run (model.pt, 2 periodic checkpoints, log.csv with 2"),
        ("file", [], "is a file, not a folder"),
        ("under_file", [], "which is a file"),
        ("file", ["--resume"], "is a file, not a folder"),
        (
            "periodic_without_model",
            ["--resume"],
            "2 periodic checkpoints, log.csv with 2 iteration rows but no model.pt",
        ),
        ("log_without_model", [], "holds a previous run (log.csv with 2"),
    ],
)
def test_output_folder_is_never_destroyed(kind, extra, culprit, cwd, capsys, cartpole_run):
    out = _place(kind, cwd, cartpole_run)
    argv = CARTPOLE + ["--max_iters", "3", "--output_dir", str(out)] + extra
    assert_clean_refusal("train", argv, culprit, cwd, capsys)


def test_resume_after_a_kill_in_the_first_iteration_starts_afresh(cwd, capsys, cartpole_run):
    """log rows but no checkpoint at all: nothing to resume, and nothing worth keeping."""
    from mimic.cli.train import main

    out = _place("log_without_model", cwd, cartpole_run)
    assert main(CARTPOLE + ["--max_iters", "1", "--output_dir", str(out), "--resume"]) == 0
    assert "starting a new run" in capsys.readouterr().out


def test_move_aside_keeps_the_old_run_whole(cwd, capsys, cartpole_run):
    from mimic.cli.train import main

    out = _place("previous_run", cwd, cartpole_run)
    old = snapshot(out)
    assert main(CARTPOLE + ["--max_iters", "1", "--output_dir", str(out), "--on_existing", "move_aside"]) == 0
    assert snapshot(cwd / "out.old1") == old  # every file, unchanged
    assert torch.load(out / "model.pt", weights_only=True)["counters"]["iteration"] == 1
    assert "moved the previous run aside" in capsys.readouterr().out


def test_record_dataset_never_overwrites(cwd, capsys, dataset_file):
    target = cwd / "d.npz"
    shutil.copy(dataset_file, target)
    argv = ["--env", "CartPole-v1", "--record_dataset", str(target), "--record_samples", "50"]
    assert_clean_refusal("train", argv, "already exists", cwd, capsys)


def test_stale_tmp_files_are_removed_on_resume(cwd, capsys, cartpole_run):
    from mimic.cli.train import main

    out = _place("previous_run", cwd, cartpole_run)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    (out / f".model.pt.tmp{dead.pid}").write_bytes(b"half a checkpoint")
    (out / "log.csv.tmp").write_text("Iteration\n")
    assert main(CARTPOLE + ["--max_iters", "3", "--output_dir", str(out), "--resume"]) == 0
    assert not list(out.glob(".*tmp*")) and not (out / "log.csv.tmp").exists()
    assert "removed 2 stale tmp files" in capsys.readouterr().out


# ==================================================================================== checkpoints
@pytest.mark.parametrize(
    "kind, culprit",
    [
        ("truncated", "not a readable mimic checkpoint"),
        ("random", "not a readable mimic checkpoint"),
        ("empty", "not a readable mimic checkpoint"),
        ("folder", "model.pt' is not a file"),
        ("not_mimic", "not a mimic-train checkpoint (no config"),
        ("format", "format 'mimic-awr-0'"),
    ],
)
def test_damaged_checkpoint_on_resume(kind, culprit, cwd, capsys, cartpole_run):
    out = _place("previous_run", cwd, cartpole_run)
    _ckpt_variant(kind)(out)
    argv = CARTPOLE + ["--max_iters", "3", "--output_dir", str(out), "--resume"]
    assert_clean_refusal("train", argv, culprit, cwd, capsys)


@pytest.mark.parametrize(
    "change, culprit",
    [
        (["--env", "Acrobot-v1"], "env 'CartPole-v1' vs 'Acrobot-v1'"),
        (["--actor_net_layers", "16"], "actor_net_layers [8] vs [16]"),
        (["--critic_net_layers", "8", "8"], "critic_net_layers [8] vs [8, 8]"),
        (["--activation", "tanh"], "activation"),
        (["--optimizer", "adam"], "optimizer"),
    ],
)
def test_resume_with_another_setup_names_the_difference(change, culprit, cwd, capsys, cartpole_run):
    out = _place("previous_run", cwd, cartpole_run)
    argv = CARTPOLE + ["--max_iters", "3", "--output_dir", str(out), "--resume"] + change
    assert_clean_refusal("train", argv, culprit, cwd, capsys)


@pytest.mark.parametrize(
    "change, culprit",
    [
        (["--motion", "humanoid3d_run"], "motion 'humanoid3d_walk' vs 'humanoid3d_run'"),
        (["--character", "dog", "--motion", "humanoid3d_walk"], "character 'dog' needs"),
    ],
)
def test_resume_with_another_motion_or_character(change, culprit, cwd, capsys, humanoid_run):
    out = cwd / "out"
    shutil.copytree(humanoid_run, out)
    argv = HUMANOID + ["--max_iters", "2", "--output_dir", str(out), "--resume"] + change
    assert_clean_refusal("train", argv, culprit, cwd, capsys)


def test_record_policy_damaged(cwd, capsys, cartpole_run):
    bad = cwd / "policy.pt"
    bad.write_bytes((cartpole_run / "model.pt").read_bytes()[:999])
    argv = ["--env", "CartPole-v1", "--record_dataset", str(cwd / "d.npz"), "--record_policy", str(bad)]
    assert_clean_refusal("train", argv, "--record_policy", cwd, capsys)


# ==================================================================================== datasets
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_bad_dataset(name, cwd, capsys, dataset_file):
    maker, culprit = DATASETS[name]
    path = maker(cwd, dataset_file)
    argv = CARTPOLE + ["--dataset", path, "--max_iters", "2", "--output_dir", str(cwd / "out")]
    assert_clean_refusal("train", argv, culprit, cwd, capsys)


# ==================================================================================== view / eval
def _damaged_model(kind):
    def make(d: Path, run: Path) -> str:
        shutil.copytree(run, d / "m")
        _ckpt_variant(kind)(d / "m")
        return str(d / "m" / "model.pt")

    return make


@pytest.mark.parametrize(
    "prog, argv, culprit",
    [
        ("view", ["--motion", "humanoid3d_walk", "--seconds", "0"], "--seconds 0"),
        ("view", ["--motion", "humanoid3d_walk", "--seconds", "-2"], "--seconds -2"),
        ("view", ["--motion", "humanoid3d_walk", "--seconds", "nan"], "--seconds nan"),
        ("view", ["--motion", "humanoid3d_walk", "--fps", "0"], "--fps 0"),
        ("view", ["--motion", "humanoid3d_walk", "--episodes", "0"], "--episodes 0"),
        ("view", ["--motion", "humanoid3d_walk", "--episodes", "-3", "--no_render"], "--episodes -3"),
        ("view", ["--motion", "humanoid3d_walk", "--seed", "-1"], "--seed -1"),
        ("view", ["--motion", "humanoid3d_walk", "--width", "4"], "--width 4"),
        ("view", ["--motion", "humanoid3d_walk", "--speed", "0"], "--speed 0"),
        ("view", ["--motion", "humanoid3d_walk", "--start", "-1"], "--start -1"),
        ("view", ["--motion", "humanoid3d_walk", "--video", READ_ONLY + "/v.mp4"], "cannot write in '/proc'"),
        ("view", ["--motion", "humanoid3d_walk", "--video", "clip.txt"], "unknown type '.txt'"),
        ("view", ["--motion", "humanoid3d_walk", "--video", "afile/v.mp4"], "afile': is a file"),
        ("view", ["--motion", "humanoid3d_walk", "--video", "adir.mp4"], "is a folder, not a file"),
        ("view", ["--motion", "humanoid3d_walk"], "output/videos/humanoid3d_walk.mp4"),  # ./output is a file
        ("view", ["--motion", "humanoid3d_wlak"], "humanoid3d_wlak"),
        ("view", ["--motion", "humanoid3d_walk", "--no_render", "--json", "afile/e.json"], "afile': is a file"),
        ("view", ["--model", "no_such_model.pt"], "no_such_model.pt': no such file"),
        ("view", ["--model", "adir.mp4"], "not a file"),
        ("eval", ["--motion", "humanoid3d_wlak"], "humanoid3d_wlak"),
        ("eval", ["--motion", "humanoid3d_walk", "--episodes", "0"], "--episodes 0"),
        ("eval", ["--motion", "humanoid3d_walk", "--seed", "-5"], "--seed -5"),
        ("eval", ["--motion", "humanoid3d_walk", "--json", READ_ONLY + "/e.json"], "cannot write in '/proc'"),
        ("eval", ["--model", "no_such_model.pt"], "no_such_model.pt"),
    ],
)
def test_bad_view_or_eval_argument(prog, argv, culprit, cwd, capsys):
    (cwd / "afile").write_text("x")
    (cwd / "adir.mp4").mkdir()
    (cwd / "output").write_text("not a folder")  # where a headless view writes by default
    assert_clean_refusal(prog, argv, culprit, cwd, capsys)


@pytest.mark.parametrize("prog", ["view", "eval"])
@pytest.mark.parametrize("kind", ["truncated", "random", "not_mimic"])
def test_damaged_model_in_view_and_eval(prog, kind, cwd, capsys, humanoid_run):
    model = _damaged_model(kind)(cwd, humanoid_run)
    assert_clean_refusal(
        prog,
        ["--model", model, "--episodes", "1", "--json", str(cwd / "e.json")]
        + (["--no_render"] if prog == "view" else []),
        "model.pt",
        cwd,
        capsys,
    )


# ==================================================================================== the env itself
def test_single_env_refuses_a_batch_of_actions():
    import gymnasium as gym

    import mimic  # noqa: F401

    env = gym.make("mimic/Humanoid-v0", motion="humanoid3d_walk")
    env.reset(seed=0)
    try:
        with pytest.raises(ValueError, match=r"action of shape \(2, 36\); this env takes one action of shape \(36,\)"):
            env.step(np.zeros((2, 36), np.float32))
    finally:
        env.close()


def test_vector_env_refuses_a_wrongly_shaped_batch():
    import gymnasium as gym

    import mimic  # noqa: F401

    env = gym.make_vec(
        "mimic/Humanoid-v0", num_envs=2, vectorization_mode="vector_entry_point", motion="humanoid3d_walk"
    )
    env.reset(seed=0)
    try:
        with pytest.raises(ValueError, match=r"actions of shape \(36,\); this vector env takes shape \(2, 36\)"):
            env.step(np.zeros(36, np.float32))
    finally:
        env.close()


def test_compiled_reference_error_prints_the_time(clips):
    from mimic.kinematics import reference

    if reference._compiled_sample is None:
        pytest.skip("C kernels not built or switched off")
    ReferenceMotion = reference.ReferenceMotion
    batch = ReferenceMotion(clips("humanoid3d_walk")).batch(1)
    with pytest.raises(ValueError) as e:
        batch.sample(np.array([np.nan]))
    assert "%g" not in str(e.value) and "time nan" in str(e.value)


def test_eval_counts_sim_unstable_and_writes_strict_json(tmp_path):
    from mimic.evaluation import summarize, write_json

    eps = [
        dict(
            episode=i,
            seed=i,
            ret=float("nan") if i == 0 else 1.0,
            steps=3,
            seconds=0.1,
            fallen=False,
            sim_unstable=True,
            pose_error_sum=None,
        )
        for i in range(4)
    ]
    res = summarize(eps, 600.0)
    assert res["fall_rate"] == 0.0 and res["sim_unstable_rate"] == 1.0 and res["failure_rate"] == 1.0
    write_json(res, tmp_path / "e.json")
    text = (tmp_path / "e.json").read_text()
    assert "NaN" not in text and json.loads(text)["return_mean"] is None


# ==================================================================================== runtime faults
_SPAWNED: list = []


@pytest.fixture(autouse=True)
def _reap():
    """A runtime-fault test that fails leaves no trainer or worker behind."""
    yield
    while _SPAWNED:
        p = _SPAWNED.pop()
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()


class _Run(subprocess.Popen):
    """A training run whose output goes to files, not pipes: a run that prints much (a restart
    line per killed worker) must never block on a full pipe while the test is not reading it."""

    def __init__(self, args, cwd, **kw):
        self._logs = tempfile.mkdtemp(prefix="mimic-run-")
        self._out = open(os.path.join(self._logs, "stdout"), "w+")
        self._err = open(os.path.join(self._logs, "stderr"), "w+")
        super().__init__(
            args, cwd=cwd, env=ENV, start_new_session=True, stdout=self._out, stderr=self._err, text=True, **kw
        )

    def communicate(self, input=None, timeout=None):
        self.wait(timeout=timeout)
        out, err = (_read(f) for f in (self._out, self._err))
        return out, err


def _read(f) -> str:
    f.flush()
    f.seek(0)
    return f.read()


def _spawn(argv, cwd, **kw):
    p = _Run([sys.executable, "-m", "mimic.train"] + argv, cwd, **kw)
    _SPAWNED.append(p)
    return p


def _wait_rows(out: Path, rows: int, proc, timeout=120.0):
    from mimic.learning.run_folder import log_rows

    t_end = time.monotonic() + timeout
    while log_rows(str(out)) < rows:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < t_end, "training did not progress"
        time.sleep(0.05)


def _assert_loadable(path: Path) -> int:
    s = torch.load(path, weights_only=True)
    assert all(torch.isfinite(v).all() for v in s["actor"].values())
    return s["counters"]["iteration"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, code, workers", [(signal.SIGINT, 130, "1"), (signal.SIGTERM, 143, "1"), (signal.SIGINT, 130, "2")]
)
def test_signal_ends_the_run_cleanly(sig, code, workers, tmp_path):
    out = tmp_path / "out"
    args = CARTPOLE + ["--max_iters", "100000", "--output_dir", str(out), "--num_workers", workers, "--save_buffer"]
    p = _spawn(args, tmp_path)
    _wait_rows(out, 3, p)
    os.killpg(p.pid, sig) if sig == signal.SIGINT else p.send_signal(sig)  # Ctrl-C reaches the group
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"mimic-train: interrupted by {sig.name}: ") and "model.pt holds iteration" in line
    it = int(line.split("holds iteration ")[1].split(";")[0])
    assert _assert_loadable(out / "model.pt") == it
    assert not list(out.glob(".*tmp*"))


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.2])
def test_ctrl_c_while_workers_start_prints_no_traceback(delay, tmp_path):
    """Ctrl-C in the workers' first moments (while they still import gymnasium and the env)
    reaches the whole group; the workers ignore it from birth and the learner ends the run."""
    out = tmp_path / "out"
    p = _spawn(CARTPOLE + ["--max_iters", "100000", "--output_dir", str(out), "--num_workers", "2"], tmp_path)
    t_end = time.monotonic() + 60
    while len(_children(p.pid)) < 2:
        assert p.poll() is None and time.monotonic() < t_end, p.communicate()
        time.sleep(0.005)
    time.sleep(delay)  # the children run Python and import (numpy, gymnasium, pybullet): ~0.5 s
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


@pytest.mark.slow
def test_full_disk_keeps_the_previous_checkpoint(tmp_path):
    """A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes writes fail as a full disk does."""
    out = tmp_path / "out"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    p = _spawn(
        CARTPOLE
        + [
            "--max_iters",
            "1000",
            "--output_dir",
            str(out),
            "--save_buffer",
            "--iters_per_checkpoint",
            "0",
            "--buffer_size",
            "100000",
        ],
        tmp_path,
        preexec_fn=limit,
    )
    _, err = p.communicate(timeout=300)
    assert p.returncode == 1, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("mimic-train: error: checkpoint ") and "cannot be written (File too large)" in line
    assert _assert_loadable(out / "model.pt") >= 1
    assert not list(out.glob(".*tmp*"))


def _children(pid: int) -> list[int]:
    """The child processes of every thread of ``pid`` (workers restarted by the background collect
    are the children of its thread, not of the main one)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return children


@pytest.mark.slow
def test_too_many_worker_failures_stop_with_a_message(tmp_path):
    """Workers killed again and again as they come up: the run stops once one worker slot has
    failed 3 times in a row without completing an episode (failures count across collects, which
    the overlapped schedule spreads them over), with one line naming the fault."""
    out = tmp_path / "out"
    p = _spawn(
        CARTPOLE + ["--max_iters", "100000", "--output_dir", str(out), "--num_workers", "2", "--worker_timeout", "5"],
        tmp_path,
    )
    _wait_rows(out, 1, p)
    t_end = time.monotonic() + 600  # (worker start-up is slow on a busy machine)
    while p.poll() is None and time.monotonic() < t_end:  # kill every worker as it comes up
        for c in _children(p.pid):
            try:
                with open(f"/proc/{c}/cmdline", "rb") as f:
                    if b"spawn_main" not in f.read():
                        continue  # not a worker (the resource tracker)
                os.kill(c, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("mimic-train: error: sampler: worker ") and "times in a row without completing" in line
    assert "code -9" in line, line  # the fault: killed by SIGKILL
    _assert_loadable(out / "model.pt")


def test_nonfinite_training_stops_before_the_checkpoint(cwd, capsys):
    from mimic.cli.train import main

    out = cwd / "out"
    rc = main(
        CARTPOLE
        + [
            "--max_iters",
            "50",
            "--output_dir",
            str(out),
            "--critic_lr",
            "1e30",
            "--actor_lr",
            "1e30",
            "--actor_momentum",
            "0.9",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("mimic-train: error: iteration ") and "not finite" in line or " is nan" in line, line
    assert "model.pt keeps the last finite iteration" in line
    it = int(line.split("iteration ")[1].split(":")[0])
    if it > 0:
        assert _assert_loadable(out / "model.pt") == it  # iterations 0..it-1 were finite
    else:
        assert not (out / "model.pt").exists()


# ==================================================================================== settings that hold
def test_resume_honours_new_optimiser_settings(cwd, capsys, cartpole_run):
    """--resume --actor_lr X: the optimiser runs with X and the checkpoint records X (not the old rate)."""
    from mimic.cli.train import main

    out = _place("previous_run", cwd, cartpole_run)
    old = torch.load(out / "model.pt", weights_only=True)
    assert old["actor_optimizer"]["param_groups"][0]["lr"] != 0.0123
    assert (
        main(
            CARTPOLE
            + [
                "--max_iters",
                "3",
                "--output_dir",
                str(out),
                "--resume",
                "--actor_lr",
                "0.0123",
                "--critic_momentum",
                "0.5",
            ]
        )
        == 0
    )
    s = torch.load(out / "model.pt", weights_only=True)
    assert s["config"]["actor_lr"] == 0.0123
    assert [g["lr"] for g in s["actor_optimizer"]["param_groups"]] == [0.0123]
    assert [g["momentum"] for g in s["critic_optimizer"]["param_groups"]] == [0.5]


@pytest.mark.slow
def test_worker_faults_reach_log_and_console(tmp_path):
    """A killed worker is counted in log.csv (Worker_Restarts, Dropped_Episodes) and the console row."""
    import csv

    out = tmp_path / "out"
    p = _spawn(
        [a if a != "0" or i != CARTPOLE.index("--verbose") + 1 else "1" for i, a in enumerate(CARTPOLE)]
        + ["--max_iters", "100000", "--output_dir", str(out), "--num_workers", "2", "--samples_per_iter", "400"],
        tmp_path,
    )
    _wait_rows(out, 2, p)
    workers = [c for c in _children(p.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    os.kill(workers[0], signal.SIGKILL)
    from mimic.learning.run_folder import log_rows

    _wait_rows(out, log_rows(str(out)) + 3, p)
    p.send_signal(signal.SIGTERM)
    stdout, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    with open(out / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["Worker_Restarts"]) for r in rows) == 1
    assert all(r["Dropped_Episodes"] != "" for r in rows)
    assert "| restarts 1 dropped " in stdout and "| restarts 0 dropped 0" in stdout
