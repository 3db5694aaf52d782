"""Save -> resume continues with the same next iteration (identical parameters and log row)."""

import csv
import shutil

import pytest
import torch

from mimic.cli.train import main

BASE = [
    "--env",
    "CartPole-v1",
    "--agent_config",
    "args/agents/awr_official.yaml",
    "--samples_per_iter",
    "300",
    "--actor_steps",
    "60",
    "--critic_steps",
    "30",
    "--test_every",
    "1",
    "--test_episodes",
    "2",
    "--save_buffer",
    "--plot_every",
    "0",
    "--verbose",
    "0",
    "--seed",
    "7",
    "--iters_per_checkpoint",
    "1",
    "--deterministic_sampling",
]  # (default asynchronous sampling is not bit-reproducible)
TIMING = {"Wall_Time", "Sample_Time", "Update_Time", "Test_Time", "Collect_Time", "Samples_Per_Second"}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("schedule", ["overlap", "sync"])
def test_resume_is_bit_identical(tmp_path, schedule):
    """With overlap the checkpoint is written while the next collect runs: it stores what that
    collect started from, and the resumed run repeats it exactly."""
    ARGS = BASE + ["--schedule", schedule]
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    assert main(ARGS + ["--max_iters", "3", "--output_dir", straight]) == 0
    assert main(ARGS + ["--max_iters", "2", "--output_dir", resumed]) == 0
    # simulate a kill after iteration 2 was logged but before it was checkpointed
    with open(f"{resumed}/log.csv", "a") as f:
        f.write("2,0,0,,,,,,,,,,,,,,,,,\n")
    assert main(ARGS + ["--max_iters", "3", "--output_dir", resumed, "--resume"]) == 0

    # a checkpoint from the middle of a run (with overlap: written while the next collect ran)
    middle = tmp_path / "middle"
    middle.mkdir()
    shutil.copyfile(f"{straight}/model_000001.pt", middle / "model.pt")
    pending = torch.load(middle / "model.pt", weights_only=True)["pending_collect"]
    assert (pending is not None) == (schedule == "overlap")
    assert main(ARGS + ["--max_iters", "3", "--output_dir", str(middle), "--resume"]) == 0

    a = torch.load(f"{straight}/model.pt", weights_only=True)
    for b in (torch.load(f"{resumed}/model.pt", weights_only=True), torch.load(middle / "model.pt", weights_only=True)):
        _assert_same_training_state(a, b)

    ra, rb = _rows(f"{straight}/log.csv"), _rows(f"{resumed}/log.csv")
    assert [r["Iteration"] for r in rb] == ["0", "1", "2"]  # stale row replaced
    assert {k: v for k, v in ra[2].items() if k not in TIMING} == {k: v for k, v in rb[2].items() if k not in TIMING}

    # the checkpoint alone is enough to rebuild the env and the policy
    from mimic.rebuild import load_agent

    agent, info = load_agent(f"{resumed}/model.pt")
    assert info["env_id"] == "CartPole-v1" and info["env_kwargs"] == {}
    assert agent.predict([0.0, 0.0, 0.05, 0.0])[0] in (0, 1)
    assert (tmp_path / "resumed" / "model_000002.pt").exists()


def _assert_same_training_state(a, b):
    assert a["counters"]["iteration"] == b["counters"]["iteration"] == 3
    assert a["counters"]["total_samples"] == b["counters"]["total_samples"]
    for part in ("actor", "critic", "obs_normalizer"):
        for k, v in a[part].items():
            assert torch.equal(v, b[part][k]), (part, k)
    for k, v in a["actor_optimizer"]["state"].items():
        assert torch.equal(v["momentum_buffer"], b["actor_optimizer"]["state"][k]["momentum_buffer"])
