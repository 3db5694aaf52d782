"""Buffer FIFO order, weight clipping, normaliser, env hints (action_norm / obs_norm), sampler."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from mimic.learning import AWR, AWRConfig, Normalizer, ReplayBuffer
from mimic.sampling import Episode, SerialSampler


def _ep(tag: float, n: int) -> Episode:
    return Episode(
        obs=np.full((n, 2), tag, np.float32),
        actions=np.zeros((n, 1), np.float32),
        rewards=np.full(n, tag, np.float32),
        final_obs=np.full(2, tag, np.float32),
        terminated=False,
        truncated=True,
    )


def test_buffer_fifo_keeps_most_recent_whole_episodes():
    buf = ReplayBuffer(10)
    buf.add([_ep(1, 4), _ep(2, 4)])
    assert len(buf) == 8
    buf.add([_ep(3, 4)])  # 12 > 10 -> the oldest episode goes
    assert [e.rewards[0] for e in buf.episodes] == [2, 3] and len(buf) == 8
    buf.add([_ep(4, 5)])  # 13 > 10 -> episode 2 goes
    assert [e.rewards[0] for e in buf.episodes] == [3, 4] and len(buf) == 9
    flat = buf.flat()
    np.testing.assert_array_equal(flat.rewards, [3] * 4 + [4] * 5)  # oldest first
    np.testing.assert_array_equal(flat.end_index, [3, 8])
    assert flat.episode_end.sum() == 2 and flat.final_obs.shape == (2, 2)
    buf.add([_ep(5, 30)])  # longer than capacity: kept alone
    assert [e.rewards[0] for e in buf.episodes] == [5] and buf.total_added == 47
    buf2 = ReplayBuffer(1)
    buf2.load_state_dict(buf.state_dict())
    np.testing.assert_array_equal(buf2.flat().obs, buf.flat().obs)
    assert buf2.capacity == 10 and buf2.total_added == 47


def test_weight_clipping_and_standardisation():
    agent = AWR(gym.make("CartPole-v1"), AWRConfig(normalize_adv=False, weight_clip=20.0), verbose=0)
    assert agent.config.beta == 0.05  # paper temperature
    adv = np.array([-1.0, 0.0, 0.1, 1.0, 1e6])  # 1e6: no overflow
    w, clip_frac = agent.compute_weights(adv)
    np.testing.assert_allclose(w, [np.exp(-20), 1.0, np.exp(2.0), 20.0, 20.0])
    assert clip_frac == pytest.approx(2 / 5)

    agent = AWR(gym.make("CartPole-v1"), AWRConfig(normalize_adv=True, weight_clip=3.0), verbose=0)
    assert agent.config.beta == 1.0  # official code
    adv = np.array([0.0, 1.0, 2.0, 3.0, 30.0])
    a_hat = (adv - adv.mean()) / (adv.std() + 1e-5)
    w, clip_frac = agent.compute_weights(adv)
    np.testing.assert_allclose(w, np.minimum(np.exp(a_hat), 3.0))
    assert w.max() == pytest.approx(3.0) and clip_frac == pytest.approx(np.mean(np.exp(a_hat) >= 3.0))


def test_normalizer_running_stats_fixed_mask_and_min_std():
    rng = np.random.default_rng(0)
    norm = Normalizer(3, init_mean=[0, 0, 0.5], init_std=[1, 1, 0.5], fixed_mask=[False, False, True], min_std=0.02)
    x1 = rng.normal([1.0, 5.0, 9.0], [2.0, 0.0, 3.0], size=(500, 3))
    x2 = rng.normal([1.0, 5.0, 9.0], [2.0, 0.0, 3.0], size=(300, 3))
    norm.record(x1)
    norm.update()  # first update replaces the initial guess
    norm.record(x2)
    norm.update()  # later ones are count-weighted
    x = np.concatenate([x1, x2])
    np.testing.assert_allclose(norm.mean[:2].numpy(), x.mean(0)[:2], rtol=1e-5)
    np.testing.assert_allclose(norm.std[0].item(), x.std(0)[0], rtol=1e-4)
    assert norm.std[1].item() == pytest.approx(0.02)  # constant feature: floor
    assert norm.mean[2].item() == 0.5 and norm.std[2].item() == 0.5  # fixed entry untouched


class HintedPendulum(gym.Wrapper):
    """A real Pendulum that advertises DeepMimic-style normalisation hints."""

    action_norm = (np.array([0.5], np.float32), np.array([0.25], np.float32))
    obs_norm = (np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 4.0]), np.array([False, False, True]))
    max_episode_return = 200.0


def test_env_hints_are_used_and_fixed_entries_never_reestimated():
    env = HintedPendulum(gym.make("Pendulum-v1"))
    cfg = AWRConfig(samples_per_iter=400, actor_steps=5, critic_steps=5, normalize_adv=True)
    agent = AWR(env, cfg, seed=0, verbose=0)
    np.testing.assert_allclose(agent.action_mean, [0.5])
    np.testing.assert_allclose(agent.action_std, [0.25])
    # env action = mean + std * normalised action
    a = agent.act(np.zeros((1, 3), np.float32), deterministic=True)
    with torch.no_grad():
        mu = agent.actor(agent.obs_norm(torch.zeros(1, 3))).numpy()
    np.testing.assert_allclose(a, 0.5 + 0.25 * mu, rtol=1e-6)
    # normalised bounds [-2, 2] -> [(-2-.5)/.25, (2-.5)/.25]
    np.testing.assert_allclose(agent._norm_bound_low.numpy(), [-10.0])
    np.testing.assert_allclose(agent._norm_bound_high.numpy(), [6.0])
    agent.train_iteration()
    assert agent.normalizer_count > 0
    assert agent.obs_norm.std[2].item() == 4.0 and agent.obs_norm.mean[2].item() == 0.0
    assert agent.obs_norm.std[0].item() != 1.0  # others re-estimated
    assert agent.test(1)["Normalized_Test_Return"] == pytest.approx(agent.test(1)["Test_Return"] / 200.0)


def test_plain_env_falls_back_to_box_bounds():
    agent = AWR(gym.make("Pendulum-v1"), AWRConfig(), verbose=0)
    np.testing.assert_allclose(agent.action_mean, [0.0])
    np.testing.assert_allclose(agent.action_std, [2.0])
    np.testing.assert_allclose(agent.obs_norm.mean.numpy(), [0, 0, 0])
    np.testing.assert_allclose(agent.obs_norm.std.numpy(), [1, 1, 8])  # Box high = [1, 1, 8]


def test_sampler_whole_episodes_options_and_determinism():
    seen = []

    class Spy(gym.Wrapper):
        def reset(self, **kw):
            seen.append(kw["options"]["total_samples"])
            return self.env.reset(**kw)

    act = lambda o: np.zeros(len(o), np.int64)
    s1 = SerialSampler(Spy(gym.make("CartPole-v1")), seed=3)
    eps = s1.collect(act, min_samples=50, total_samples=1000)
    n = sum(len(e) for e in eps)
    assert n >= 50 and n - len(eps[-1]) < 50  # stop only between episodes
    assert all(e.terminated and not e.truncated for e in eps)  # pushing left always falls
    assert seen[0] == 1000 and seen[1] == 1000 + len(eps[0])  # global sample count on reset
    s2 = SerialSampler([gym.make("CartPole-v1"), gym.make("CartPole-v1")], seed=3)
    eps2 = s2.collect(act, min_samples=50)
    for a, b in zip(eps, eps2):  # per-episode seeds: same episodes
        np.testing.assert_array_equal(a.obs, b.obs)


def test_truncated_episodes_store_final_obs():
    env = gym.make("Pendulum-v1", max_episode_steps=20)
    eps = SerialSampler(env, seed=0).collect(lambda o: np.zeros((len(o), 1), np.float32), min_samples=1)
    (ep,) = eps
    assert ep.truncated and not ep.terminated and len(ep) == 20 and ep.final_obs.shape == (3,)
    assert not np.array_equal(ep.final_obs, ep.obs[-1])


@pytest.mark.parametrize("weighting", ["rwr", "bc"])
def test_ablation_switches(weighting):
    cfg = AWRConfig(
        samples_per_iter=300, actor_steps=10, critic_steps=10, weighting=weighting, on_policy=True, normalize_adv=True
    )
    agent = AWR(gym.make("CartPole-v1"), cfg, seed=0, verbose=0)
    r1 = agent.train_iteration()
    r2 = agent.train_iteration()
    assert len(agent.buffer) == r2["Buffer_Samples"] == agent.total_samples - r1["Buffer_Samples"]  # last batch only
    if weighting == "bc":
        assert r2["Weight_Mean"] == 1.0 and r2["Weight_Max"] == 1.0 and np.isnan(r2["Value_Loss"])
    else:
        assert r2["Adv_Mean"] > 0  # rwr: A = R (no baseline), R > 0
