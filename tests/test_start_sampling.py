"""Where training episodes start: DeepMimic's uniform draw and the adaptive one (mimic.envs.starts)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mimic  # noqa: F401  (registers the environments)
from mimic.envs.starts import AdaptiveStarts


def test_adaptive_starts_are_uniform_until_an_episode_falls():
    starts = AdaptiveStarts(duration=1.3, loop=True)
    assert starts.bins == 13
    assert np.allclose(starts.probabilities(), 1 / 13)
    starts.record(0.42, fell=False)
    assert np.allclose(starts.probabilities(), 1 / 13)


@pytest.mark.parametrize("loop", [True, False])
def test_a_fall_draws_its_bin_and_the_bins_before_it(loop):
    starts = AdaptiveStarts(duration=1.3, loop=loop, bin_width=0.1, lookahead=0.5, decay=0.8, uniform=0.2)
    starts.record(0.75, fell=True)  # bin 7
    p = starts.probabilities()
    assert p.sum() == pytest.approx(1.0)
    assert np.argmax(p) == 7
    # the kernel looks ahead: bins 3..7 lead into the fall, weighted 0.8^4 .. 1; the rest stay uniform
    lead = p[3:8] - 0.2 / 13
    assert np.allclose(lead / lead[-1], 0.8 ** np.arange(4, -1, -1))
    assert np.allclose(np.delete(p, range(3, 8)), 0.2 / 13)


def test_a_fall_near_the_start_of_a_looping_clip_draws_the_end_of_the_clip():
    looping = AdaptiveStarts(duration=1.0, loop=True).probabilities
    ends = AdaptiveStarts(duration=1.0, loop=False)
    wraps = AdaptiveStarts(duration=1.0, loop=True)
    for s in (ends, wraps):
        s.record(0.05, fell=True)
    assert wraps.probabilities()[-1] > looping()[-1]
    assert ends.probabilities()[-1] == pytest.approx(0.2 / 10)


def test_draws_follow_the_probabilities():
    starts = AdaptiveStarts(duration=2.0, loop=True)
    for _ in range(20):
        starts.record(1.55, fell=True)
    rng = np.random.default_rng(0)
    t = np.array([starts.sample(rng) for _ in range(20000)])
    assert t.min() >= 0.0 and t.max() < 2.0
    counts = np.bincount([starts.bin_of(x) for x in t], minlength=starts.bins) / t.size
    assert np.allclose(counts, starts.probabilities(), atol=0.01)


def make(**kw):
    kw.setdefault("motion", "humanoid3d_spinkick")
    return gym.make("mimic/Humanoid-v0", **kw)


def _episode(env, t0, action):
    env.reset(seed=0, options={"time": t0})
    while True:
        _, _, term, trunc, info = env.step(action)
        if term or trunc:
            return info


def test_a_real_fall_is_recorded_at_its_start_and_shifts_the_next_starts():
    """DeepMimic's mid-range initial action folds the humanoid up within a second: the fall is
    counted in the bin where the episode started, and the next start is drawn from that bin or
    the ones leading into it more often than uniform."""
    env = make(start_sampling="adaptive", initial_time_limit=2.0)
    starts = env.unwrapped.task.starts
    info = _episode(env, 0.75, env.unwrapped.action_norm[0].astype(np.float32))
    assert info["fallen"]
    b = starts.bin_of(0.75)
    assert starts.fail[b] == pytest.approx(starts.rate)
    assert np.count_nonzero(starts.fail) == 1
    lead = np.arange(b - starts.span + 1, b + 1) % starts.bins
    t = np.array([env.unwrapped.task.start_time(np.random.default_rng(i)) for i in range(2000)])
    in_lead = np.isin([starts.bin_of(x) for x in t], lead).mean()
    assert in_lead > 1.5 * len(lead) / starts.bins
    env.close()


def test_episodes_that_run_out_of_time_leave_the_draw_uniform():
    env = make(start_sampling="adaptive", pd_targets="relative", initial_time_limit=0.1)
    info = _episode(env, 0.2, env.unwrapped.action_norm[0].astype(np.float32))
    assert not info["fallen"]
    assert np.allclose(env.unwrapped.task.starts.probabilities(), 1 / env.unwrapped.task.starts.bins)
    env.close()


def test_test_episodes_and_the_default_keep_deepmimics_uniform_draw():
    for kw in (dict(mode="test", start_sampling="adaptive"), dict()):
        env = make(**kw)
        assert env.unwrapped.task.starts is None
        env.close()


def test_an_unknown_start_sampling_is_refused_by_name():
    with pytest.raises(ValueError, match="start_sampling"):
        make(start_sampling="hard")
