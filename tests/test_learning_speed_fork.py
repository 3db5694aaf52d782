"""bench/learning_speed.py fork: a run branched from another's snapshot continues from that
snapshot's iteration, sharing every row before it, and bad requests are refused before any copy."""

import argparse
import csv
import filecmp
import importlib
import os
import sys

import pytest

from mimic.cli.train import main as train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
learning_speed = importlib.import_module("learning_speed")

ARGS = [
    "--env",
    "CartPole-v1",
    "--agent_config",
    "args/agents/awr_official.yaml",
    "--samples_per_iter",
    "300",
    "--actor_steps",
    "20",
    "--critic_steps",
    "10",
    "--test_every",
    "1",
    "--test_episodes",
    "1",
    "--save_buffer",
    "--plot_every",
    "0",
    "--verbose",
    "0",
    "--seed",
    "3",
    "--iters_per_checkpoint",
    "1",
    "--deterministic_sampling",
]


def _iterations(path):
    with open(path, newline="") as f:
        return [row["Iteration"] for row in csv.DictReader(f)]


def _fork(runs, source, iteration, config="relative_beta0.25"):
    learning_speed.fork(argparse.Namespace(runs=str(runs), source=source, iteration=iteration, config=config))


def test_fork_continues_from_the_snapshot_with_the_rows_before_it(tmp_path):
    src = tmp_path / "deepmimic_s3"
    assert train(ARGS + ["--max_iters", "3", "--output_dir", str(src)]) == 0
    _fork(tmp_path, "deepmimic_s3", 1)
    dst = tmp_path / "relative_beta0.25_s3"
    assert filecmp.cmp(src / "model_000001.pt", dst / "model.pt", shallow=False)
    assert not (tmp_path / "relative_beta0.25_s3.tmp").exists()

    assert train(ARGS + ["--max_iters", "3", "--output_dir", str(dst), "--resume"]) == 0
    assert _iterations(dst / "log.csv") == ["0", "1", "2"]  # row 1 on from the fork, not the source's
    with open(src / "log.csv") as a, open(dst / "log.csv") as b:
        assert a.readlines()[:2] == b.readlines()[:2]  # header and iteration 0 shared


def test_fork_refuses_a_missing_snapshot_an_existing_run_and_an_unknown_config(tmp_path):
    src = tmp_path / "deepmimic_s3"
    assert train(ARGS + ["--max_iters", "1", "--output_dir", str(src)]) == 0
    with pytest.raises(SystemExit, match=r"model_000007\.pt: no such snapshot \(there: model_000000\.pt"):
        _fork(tmp_path, "deepmimic_s3", 7)
    with pytest.raises(SystemExit, match="unknown configuration 'nope'"):
        _fork(tmp_path, "deepmimic_s3", 0, config="nope")
    (tmp_path / "relative_beta0.25_s3").mkdir()
    with pytest.raises(SystemExit, match="exists; a fork starts a new run folder"):
        _fork(tmp_path, "deepmimic_s3", 0)
    assert sorted(os.listdir(tmp_path)) == ["deepmimic_s3", "relative_beta0.25_s3"]
