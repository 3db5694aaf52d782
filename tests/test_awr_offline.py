"""Fully off-policy AWR from a static dataset (paper section 5.4); BC is the w = 1 case."""

import gymnasium as gym
import numpy as np

from mimic.cli.train import main
from mimic.learning import AWR, AWRConfig, Dataset, record_dataset


def behaviour_policy(seed: float = 0, wrong: float = 0.55):
    """A balancing controller that takes the WRONG action 55% of the time (worse than random)."""
    rng = np.random.default_rng(seed)

    def act(obs):
        good = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
        return np.where(rng.random(len(good)) < wrong, 1 - good, good)

    return act


def test_offline_awr_learns_from_a_static_dataset(tmp_path):
    env = gym.make("CartPole-v1")
    path = record_dataset(env, behaviour_policy(), 10000, seed=0, meta={"env_id": "CartPole-v1"}).save(
        str(tmp_path / "cartpole.npz")
    )
    ds = Dataset.load(path)
    data_return = np.mean([e.ret for e in ds.episodes])
    assert ds.num_samples >= 10000 and data_return < 25  # the data is bad

    def train(weighting):
        cfg = AWRConfig.from_yaml("args/agents/awr_official.yaml", {"actor_lr": 5e-4, "weighting": weighting})
        agent = AWR(None, cfg, eval_env=gym.make("CartPole-v1"), dataset=ds, seed=0, verbose=0)
        agent.learn(max_iters=6, test_every=0)
        assert agent.total_samples == 0  # never touched an env for training
        return agent.test(5)["Test_Return"]

    def random_act(o):
        return np.random.default_rng(1).integers(0, 2, len(o))

    random_return = np.mean([e.ret for e in record_dataset(env, random_act, 2000, seed=5).episodes])
    awr_return, bc_return = train("awr"), train("bc")
    assert awr_return > 150 and awr_return > 5 * random_return, (awr_return, random_return)
    assert bc_return < 50  # cloning the bad data fails


def test_cli_record_then_train_offline(tmp_path):
    ds = str(tmp_path / "rand.npz")
    assert main(["--env", "CartPole-v1", "--record_dataset", ds, "--record_samples", "600", "--seed", "1"]) == 0
    out = str(tmp_path / "off")
    assert (
        main(
            [
                "--dataset",
                ds,
                "--env",
                "CartPole-v1",
                "--max_iters",
                "2",
                "--actor_steps",
                "20",
                "--critic_steps",
                "20",
                "--test_episodes",
                "1",
                "--test_every",
                "1",
                "--output_dir",
                out,
                "--plot_every",
                "1",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    log = open(f"{out}/log.csv").read().splitlines()
    assert len(log) == 3 and (tmp_path / "off" / "learning_curve.png").exists()
    # record again, now with the trained checkpoint as the behaviour policy
    ds2 = str(tmp_path / "ckpt.npz")
    assert (
        main(
            [
                "--env",
                "CartPole-v1",
                "--record_dataset",
                ds2,
                "--record_samples",
                "300",
                "--record_policy",
                f"{out}/model.pt",
            ]
        )
        == 0
    )
    assert Dataset.load(ds2).meta["policy"].endswith("model.pt")
