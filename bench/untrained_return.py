#!/usr/bin/env python3
"""Test return of the untrained policy of a training run: the agent that train.py builds from
the same args file and seed, tested as train.py tests (agent.test: deterministic policy mean,
test-mode episodes, the same fixed seeds) before any update. Pairs with the Test_Return column of
the run's log.csv.

    python bench/untrained_return.py --arg_file args/humanoid_bvh_walk.txt [--test_episodes 8]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    import gymnasium as gym

    import mimic  # noqa: F401
    from mimic.cli.argfile import parse_args
    from mimic.learning import AWR

    s = parse_args(list(sys.argv[1:] if argv is None else argv))
    env = gym.make(s.env_id, **s.env_kwargs)
    eval_env = gym.make(s.env_id, **s.test_env_kwargs)
    agent = AWR(env, s.agent, eval_env=eval_env, seed=s.run.seed, verbose=0)
    res = agent.test(s.run.test_episodes)
    print(
        f"untrained: Test_Return {res['Test_Return']:.3f} over {s.run.test_episodes} "
        f"episodes, mean length {res['Test_Episode_Length']:.1f} steps"
    )
    env.close()
    eval_env.close()


if __name__ == "__main__":
    main()
