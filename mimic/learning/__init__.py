"""mimic.learning: Advantage-Weighted Regression in torch (sees only Gymnasium spaces).

    from mimic.learning import AWR, AWRConfig
    agent = AWR(gym.make("CartPole-v1"), AWRConfig(normalize_adv=True, critic_lr=0.01), seed=0)
    agent.learn(total_samples=100_000)
    action, _ = agent.predict(obs)

Never import pybullet or mimic.envs / mimic.sim / mimic.kinematics from here (tests/test_layers.py).
Episodes and samplers come from :mod:`mimic.sampling`, the layer below.

Documented choices (details in the module docstrings):
* defaults = the paper's (args/agents/awr_default.yaml): critic lr 1e-4, raw advantages,
  beta 0.05.  The official code (args/agents/awr_official.yaml, used by the gym args files)
  uses critic lr 0.01 and standardised advantages with beta 1.
* gradient steps per iteration = ceil(steps * new_samples / samples_per_iter) (official code).
* obs normaliser: std floor 0.02 (DeepMimic's eps), no clipping by default; statistics from
  the first ``normalizer_samples`` states, folded in right after each collection.
* env seeds: every reset is seeded from (seed, episode index), so the sampler state is just
  a counter; test episodes use a fixed seed list (the same every evaluation).
* resume: model.pt always holds nets, normaliser, optimisers, counters and all RNG states;
  the replay buffer only with --save_buffer.  Without it a resumed run restarts with an
  empty buffer (its first update sees only the new batch), i.e. it is not bit-identical.
"""

from mimic.learning.awr import AWR
from mimic.learning.buffer import ReplayBuffer
from mimic.learning.config import AWRConfig, ConfigError
from mimic.learning.dataset import Dataset, random_act_fn, record_dataset
from mimic.learning.normalizer import Normalizer
from mimic.learning.returns import monte_carlo_returns, td_lambda_returns

__all__ = [
    "AWR",
    "AWRConfig",
    "ConfigError",
    "Dataset",
    "Normalizer",
    "ReplayBuffer",
    "monte_carlo_returns",
    "random_act_fn",
    "record_dataset",
    "td_lambda_returns",
]
