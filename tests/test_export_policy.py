"""mimic/export_policy.py: a checkpoint's policy alone, smaller, loadable and acting the same."""

import csv
import os

import pytest
import torch

from mimic.cli.export_policy import main as export_main
from mimic.cli.train import main as train_main
from mimic.evaluation import evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two real AWR iterations on the walk with the demo's args file, buffer saved."""
    out = tmp_path_factory.mktemp("walk")
    argv = ["--arg_file", os.path.join(REPO, "args", "humanoid_walk_relative.txt"), "--output_dir", str(out)]
    argv += ["--max_samples", "600", "--samples_per_iter", "300", "--actor_steps", "3", "--critic_steps", "3"]
    argv += ["--test_episodes", "1", "--test_every", "1", "--plot_every", "0", "--save_buffer", "true"]
    argv += ["--num_workers", "1", "--verbose", "0"]
    assert train_main(argv) == 0
    return str(out / "model.pt")


def test_policy_only_copy_is_smaller_and_acts_the_same(trained, tmp_path, capsys):
    out = tmp_path / "shipped" / "walk.pt"
    assert export_main([trained, str(out)]) == 0
    assert "MB" in capsys.readouterr().out
    full = torch.load(trained, map_location="cpu", weights_only=True)
    slim = torch.load(out, map_location="cpu", weights_only=True)
    assert full["buffer"] is not None and "actor_optimizer" in full
    assert slim["policy_only"] is True
    for key in ("buffer", "actor_optimizer", "critic_optimizer", "rng", "sampler", "value_cache"):
        assert key not in slim, key
    assert os.path.getsize(out) < os.path.getsize(trained) / 2
    for name, tensor in slim["actor"].items():
        assert torch.equal(tensor, full["actor"][name]) and tensor.device.type == "cpu", name
    assert slim["env_kwargs"]["pd_targets"] == "relative"
    a = evaluate(trained, episodes=2, seed=3)
    b = evaluate(str(out), episodes=2, seed=3)
    assert a["per_episode"] == b["per_episode"]


def test_resume_from_a_policy_only_copy_trains_on(trained, tmp_path):
    slim = tmp_path / "run" / "model.pt"
    assert export_main([trained, str(slim)]) == 0
    argv = ["--arg_file", os.path.join(REPO, "args", "humanoid_walk_relative.txt"), "--output_dir", str(slim.parent)]
    argv += ["--max_samples", "900", "--samples_per_iter", "300", "--actor_steps", "3", "--critic_steps", "3"]
    argv += ["--test_episodes", "0", "--plot_every", "0", "--num_workers", "1", "--verbose", "0", "--resume", "true"]
    assert train_main(argv) == 0
    s = torch.load(slim, map_location="cpu", weights_only=True)
    assert s["counters"]["total_samples"] >= 900 and "actor_optimizer" in s


def test_a_refilling_resume_updates_only_once_the_buffer_is_full_again(trained, tmp_path):
    """refill_before_update: a resume without a buffer collects buffer_size samples first."""
    slim = tmp_path / "run" / "model.pt"
    assert export_main([trained, str(slim)]) == 0
    before = torch.load(slim, map_location="cpu", weights_only=True)
    argv = ["--arg_file", os.path.join(REPO, "args", "humanoid_walk_relative.txt"), "--output_dir", str(slim.parent)]
    argv += ["--samples_per_iter", "200", "--actor_steps", "3", "--critic_steps", "3", "--buffer_size", "1000"]
    argv += ["--test_episodes", "0", "--plot_every", "0", "--num_workers", "1", "--verbose", "0", "--resume", "true"]
    argv += ["--refill_before_update", "true"]
    assert train_main(argv + ["--max_samples", str(before["counters"]["total_samples"] + 300)]) == 0
    mid = torch.load(slim, map_location="cpu", weights_only=True)
    new = mid["counters"]["total_samples"] - before["counters"]["total_samples"]
    assert mid["counters"]["refill_left"] == 1000 - new > 0
    for name, tensor in before["actor"].items():  # nothing fitted yet
        assert torch.equal(tensor, mid["actor"][name]), name

    # resumed again without a buffer (no --save_buffer): a whole refill, then updates
    start = mid["counters"]["total_samples"]
    assert train_main(argv + ["--max_samples", str(start + 1600)]) == 0
    with open(slim.parent / "log.csv") as f:
        rows = [r for r in csv.DictReader(f) if int(r["Iteration"]) >= mid["counters"]["iteration"]]
    collected = [int(r["Samples"]) - start for r in rows]
    fitted = [r["Value_Loss"] != "" for r in rows]
    assert fitted == [n >= 1000 for n in collected], (fitted, collected)
    assert fitted[-1] and not fitted[0]


@pytest.mark.parametrize("case", ["missing", "not_a_checkpoint", "exists", "same_path"])
def test_bad_input_names_the_file_and_writes_nothing(trained, tmp_path, capsys, case):
    src, out = trained, tmp_path / "out.pt"
    if case == "missing":
        src = str(tmp_path / "nope.pt")
    elif case == "not_a_checkpoint":
        src = str(tmp_path / "junk.pt")
        open(src, "w").write("not a checkpoint")
    elif case == "exists":
        out.write_bytes(b"keep")
    else:
        out = trained
    before = os.path.getsize(out) if os.path.exists(out) else None
    assert export_main([src, str(out)]) == 2
    err = capsys.readouterr().err
    assert (str(out) if case in ("exists", "same_path") else src) in err
    assert (os.path.getsize(out) if os.path.exists(out) else None) == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary files left
