"""Kill-and-resume (issue 14): a humanoid run SIGKILLed (once in the middle of a checkpoint write)
and resumed ends bit-identical to an uninterrupted one; see bench/kill_resume.py, whose run this
is, with fewer kills (the benchmark does 10+)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "kill_resume.py"


@pytest.mark.slow
def test_sigkill_and_resume_is_bit_identical(tmp_path):
    spec = importlib.util.spec_from_file_location("kill_resume", BENCH)
    kr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kr)
    res = kr.run(kills=2, iters=16, out=tmp_path / "kr", seed=1)
    assert res["kills"] == 2, res["cycles"]  # both kills landed before the run ended
    assert res["kills_in_write"] == 1, res["cycles"]  # the second one during a checkpoint write
    assert res["bit_identical"], res["checkpoint_differences"]
    assert res["log_rows_equal"]
    assert res["workers_lingered"] == 0  # orphaned workers exit by themselves


def _episode(env, seed):
    """Rewards of one episode of seeded random actions (in [-0.5, 0.5]: falls within ~15 steps)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    env.reset(seed=[seed], options={"reset_mask": np.ones(1, bool), "total_samples": 1000})
    rewards = []
    for _ in range(60):
        _, r, term, trunc, _ = env.step(rng.uniform(-0.5, 0.5, size=(1, 36)).astype(np.float32))
        rewards.append(r[0])
        if term[0] or trunc[0]:
            break
    return rewards


def test_an_episode_does_not_depend_on_what_its_world_simulated_before():
    """What makes a resumed run (fresh worker worlds) repeat the uninterrupted one: episodes 50-59
    in a world that ran 0-49 first equal the same episodes in a new world, bit for bit.  (Without
    pybullet's deterministicOverlappingPairs, episode 50 differed from step 8 on.)"""
    import gymnasium as gym

    import mimic  # noqa: F401

    def make():
        return gym.make_vec(
            "mimic/Humanoid-v0",
            num_envs=1,
            vectorization_mode="vector_entry_point",
            autoreset_mode="Disabled",
            motion="humanoid3d_walk",
        )

    old, new = make(), make()
    try:
        for seed in range(50):
            _episode(old, seed)
        for seed in range(50, 60):
            assert _episode(old, seed) == _episode(new, seed), seed
    finally:
        old.close()
        new.close()
