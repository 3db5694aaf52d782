"""ParallelSampler: multi-process sampling on real pybullet envs, faults, seeds, Ray.

Kept small: 2 workers, ~200-400 samples, the humanoid's 0.5 s training episodes (15 steps).
This module is imported by the worker processes too (the test-only env ids below are
registered here and their entry points live here), so its top level stays light: no torch,
no mimic.learning imports at module level.
"""

from __future__ import annotations

import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest

HUMANOID = "mimic/Humanoid-v0"
KW = {"motion": "humanoid3d_spinkick", "mode": "train"}


# ---------------------------------------------------------------------------------------
# test-only envs (CartPole underneath, so they are instant)
# ---------------------------------------------------------------------------------------
class HangOnce(gym.Wrapper):
    """Sleeps 'forever' on step ``hang_at`` -- only the first time (a flag file marks it)."""

    def __init__(self, flag: str, hang_at: int = 20):
        super().__init__(gym.make("CartPole-v1"))
        self.flag, self.hang_at, self.n = flag, hang_at, 0

    def step(self, action):
        self.n += 1
        if self.n == self.hang_at:
            try:  # atomic: exactly one worker process hangs
                os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return self.env.step(action)
            time.sleep(600)
        return self.env.step(action)


class UnstableAt(gym.Wrapper):
    """Ends every episode at step ``at`` like the imitation env's NaN guard does."""

    def __init__(self, at: int = 7):
        super().__init__(gym.make("CartPole-v1"))
        self.at, self.t = at, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self.t += 1
        obs, r, term, trunc, info = self.env.step(action)
        if self.t == self.at:
            return obs, 0.0, True, False, {**info, "sim_unstable": True}
        return obs, r, term, trunc, info


class JitteryStep(gym.Wrapper):
    """CartPole whose steps take a random 5-45 ms (sleeping): replies of different workers
    arrive at unrelated times, as a loaded machine's do."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.rng = np.random.default_rng(os.getpid())

    def step(self, action):
        time.sleep(self.rng.uniform(0.005, 0.045))
        return self.env.step(action)


for _id, _cls in (
    ("test_parallel/HangOnce-v0", HangOnce),
    ("test_parallel/UnstableAt-v0", UnstableAt),
    ("test_parallel/JitteryStep-v0", JitteryStep),
):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls)


# ---------------------------------------------------------------------------------------
def _random_act(action_space, seed=0):
    low, high = action_space.low, action_space.high
    mean, half = (low + high) / 2, (high - low) / 2
    rng = np.random.default_rng(seed)

    def act(obs):
        return (mean + 0.05 * half * rng.standard_normal((len(obs), mean.size))).astype(np.float32)

    return act


def _check_episodes(eps, obs_dim, act_dim, min_samples):
    assert eps and sum(len(e) for e in eps) >= min_samples
    for e in eps:
        T = len(e)
        assert T > 0 and e.obs.shape == (T, obs_dim) and e.actions.shape == (T, act_dim)
        assert e.rewards.shape == (T,) and e.final_obs.shape == (obs_dim,)
        assert e.obs.dtype == np.float32 and e.final_obs.dtype == np.float32
        assert np.isfinite(e.obs).all() and np.isfinite(e.rewards).all() and np.isfinite(e.final_obs).all()
        assert e.terminated != e.truncated  # every episode ended one way or the other
        assert len(e.info) == 5 and all(k.startswith("reward_terms/") for k in e.info)
    # 0.5 s training episodes at 30 Hz: time-limit ends (truncated) after exactly 15 steps
    assert all(len(e) == 15 for e in eps if e.truncated)
    assert all(len(e) <= 15 for e in eps)


def _same(a, b, info_tol=0.0) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.obs, y.obs)
        and np.array_equal(x.actions, y.actions)
        and np.array_equal(x.rewards, y.rewards)
        and np.array_equal(x.final_obs, y.final_obs)
        and x.terminated == y.terminated
        and x.truncated == y.truncated
        and np.allclose(list(x.info.values()), list(y.info.values()), rtol=0, atol=info_tol)
        for x, y in zip(a, b)
    )


@pytest.fixture(scope="module")
def mimic_env():
    import mimic  # noqa: F401

    env = gym.make(HUMANOID, **KW)
    yield env
    env.close()


def test_mp_episodes_and_seeds(mimic_env):
    """2 workers x 2 envs: correct whole episodes; same seed/layout -> identical episodes; the same
    envs per pipeline group in another layout (1 worker x 4 envs) -> identical too; deterministic mode."""
    from mimic.sampling import ParallelSampler

    obs_dim, act_dim = mimic_env.observation_space.shape[0], mimic_env.action_space.shape[0]
    runs, states = [], []
    for workers, envs in ((2, 2), (2, 2), (1, 4)):
        with ParallelSampler(
            HUMANOID, KW, num_workers=workers, envs_per_worker=envs, seed=7, worker_timeout=30, deterministic=True
        ) as ps:
            assert ps.vectorized and ps.num_envs == 4
            assert not any(h.info.torch_loaded for h in ps.workers)  # workers never import torch
            assert len(set(ps.worker_pids())) == workers and os.getpid() not in ps.worker_pids()
            eps = ps.collect(_random_act(ps.action_space, 1), min_samples=200, total_samples=0)
            _check_episodes(eps, obs_dim, act_dim, 200)
            st = ps.last_stats
            assert st.worker_restarts == 0 and st.samples == sum(len(e) for e in eps)
            assert st.rounds > 0 and st.env_time > 0 and st.episodes == len(eps)
            assert ps.state_dict()["seed"] == 7 and ps.state_dict()["episode_count"] >= len(eps)
            states.append(ps.state_dict())
            runs.append(eps)
    assert _same(runs[0], runs[1]) and states[0] == states[1]
    # deterministic without pipelining: valid episodes too
    with ParallelSampler(
        HUMANOID, KW, num_workers=2, envs_per_worker=2, seed=7, pipeline=False, deterministic=True
    ) as ps:
        assert ps.group_sizes == [2]
        _check_episodes(ps.collect(_random_act(ps.action_space, 1), min_samples=200), obs_dim, act_dim, 200)
    # asynchronous (the default): valid whole episodes, the same per-episode seeds -> the same starts
    with ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=2, seed=7) as ps:
        assert not ps.deterministic
        eps = ps.collect(_random_act(ps.action_space, 1), min_samples=200)
        _check_episodes(eps, obs_dim, act_dim, 200)
        assert ps.last_stats.worker_restarts == 0 and ps.last_stats.samples == sum(len(e) for e in eps)
        assert {e.obs[0].tobytes() for e in eps[:4]} == {e.obs[0].tobytes() for e in runs[0][:4]}
    # float32 data bit-identical; float64 reward-term sums may differ in the last bit (batched maths)
    assert _same(runs[0], runs[2], info_tol=1e-12) and states[0] == states[2]
    # every episode got its own seed: start states all differ
    starts = {e.obs[0].tobytes() for e in runs[0]}
    assert len(starts) == len(runs[0])


def _replay(env, episodes, seed, clip):
    """Replays each episode in ``env`` from its own seed: episode i of a 1-worker x 1-env deterministic
    run has index = total_samples at its reset = the steps of the episodes before it (one index is
    reserved per step, see ParallelSampler).  Asserts that the episode's recorded arrays are what
    the env does with its recorded actions; returns the reward-term sums for comparison."""
    from mimic.sampling import episode_seed

    index = 0
    for e in episodes:
        obs, _ = env.reset(seed=episode_seed(seed, index), options={"total_samples": index})
        np.testing.assert_array_equal(e.obs[0], np.asarray(obs, np.float32))
        sums = {}
        for t, a in enumerate(e.actions):
            obs, r, term, trunc, info = env.step(clip(a))
            nxt = e.obs[t + 1] if t + 1 < len(e) else e.final_obs
            np.testing.assert_array_equal(nxt, np.asarray(obs, np.float32), err_msg=f"step {t}")
            assert e.rewards[t] == np.float32(r)
            assert (term or trunc) == (t + 1 == len(e))
            for k, v in (info.get("reward_terms") or {}).items():
                sums[k] = sums.get(k, 0.0) + float(v)
        assert e.terminated == term and e.truncated == (trunc and not term)
        assert e.info == {f"reward_terms/{k}": v for k, v in sums.items()}  # same sums, bit for bit
        index += len(e)


def test_worker_recorded_episodes_replay_exactly(mimic_env):
    """Episodes are assembled in the workers: replaying their actions from their seeds gives back
    every observation, reward, end flag and reward-term sum -- on the humanoid (Box actions, clipped
    in the worker, stored unclipped) and on CartPole (Discrete; 500-step episodes, so the worker's
    episode arrays grow past their initial 64 rows)."""
    from mimic.sampling import ParallelSampler

    with ParallelSampler(
        HUMANOID, KW, num_workers=1, envs_per_worker=1, seed=3, pipeline=False, deterministic=True
    ) as ps:
        act, low, high = _random_act(ps.action_space, 4), ps.action_space.low, ps.action_space.high

        def out_of_bounds(o):  # first action dim 1 beyond its bound: clipped to it
            a = act(o)
            a[:, 0] = high[0] + 1.0
            return a

        eps = ps.collect(out_of_bounds, min_samples=60)
    assert len(eps) >= 4 and all((e.actions[:, 0] == np.float32(high[0] + 1.0)).all() for e in eps)
    _replay(mimic_env, eps, 3, lambda a: np.clip(a, low, high))

    with ParallelSampler(
        "CartPole-v1", {}, num_workers=1, envs_per_worker=1, seed=5, pipeline=False, deterministic=True
    ) as ps:
        eps = ps.collect(lambda o: (o[:, 2] + 0.5 * o[:, 3] > 0).astype(np.int64), min_samples=700)
    assert max(len(e) for e in eps) > 256 and all(e.actions.dtype == np.int64 for e in eps)
    env = gym.make("CartPole-v1")
    _replay(env, eps, 5, int)
    env.close()


def test_async_holds_lone_replies_to_batch_across_workers():
    """Asynchronous mode with batch_hold: a reply whose worker still steps its other group waits
    (at most half a group step) for another worker's, so policy calls see more samples than
    without -- and the episodes are the same kind either way."""
    from mimic.sampling import ParallelSampler

    policy = lambda o: np.zeros(len(o), np.int64)  # noqa: E731  (always left: ~10-step episodes)
    per_call = {}
    for hold in (True, False):
        with ParallelSampler(
            "test_parallel/JitteryStep-v0", {}, num_workers=2, envs_per_worker=2, seed=0, batch_hold=hold, verbose=False
        ) as ps:
            assert ps.group_sizes == [1, 1]
            ps.collect(policy, min_samples=20)  # learns the step time
            eps = ps.collect(policy, min_samples=150)
            st = ps.last_stats
            assert sum(len(e) for e in eps) >= 150 and all(e.terminated != e.truncated for e in eps)
            assert (st.held > 0) == hold and st.worker_restarts == 0
            per_call[hold] = st.samples / st.rounds
    assert per_call[True] > 1.3 and per_call[True] > per_call[False] + 0.2, per_call


def test_mp_worker_killed_mid_iteration(mimic_env):
    """SIGKILL a worker during AWR's collect: the iteration completes, the restart and the dropped
    episodes are reported, and the next iteration uses the restarted worker."""
    from mimic.learning import AWR, AWRConfig
    from mimic.sampling import ParallelSampler

    cfg = AWRConfig(
        actor_net_layers=[32, 32],
        critic_net_layers=[32, 32],
        samples_per_iter=240,
        actor_steps=4,
        critic_steps=4,
        actor_batch_size=64,
        critic_batch_size=64,
    )
    with ParallelSampler(HUMANOID, KW, num_workers=2, seed=1, worker_timeout=30) as ps:
        assert ps.group_sizes == [8, 8] and ps.num_envs == 32  # default: 2 pipelined groups of 8
        agent = AWR(mimic_env, cfg, seed=1, sampler=ps, verbose=0)
        victim = ps.worker_pids()[0]
        calls = [0]
        act = agent.collect_act

        def killing_act(obs):
            calls[0] += 1
            if calls[0] == 5:
                os.kill(victim, signal.SIGKILL)
            return act(obs)

        agent.collect_act = killing_act
        row = agent.train_iteration()
        st = ps.last_stats
        assert st.worker_restarts == 1 and st.dropped_episodes >= 1 and st.dropped_samples >= 1
        assert "restarted" in st.events[0] and str(victim) in st.events[0]
        assert row["Samples"] >= 240 and row["Episodes"] == st.episodes
        assert row["Sample_Time"] > 0 and row["Update_Time"] > 0
        assert ps.worker_pids()[0] != victim
        agent.collect_act = act
        row2 = agent.train_iteration()
        assert ps.last_stats.worker_restarts == 0 and ps.total_restarts == 1
        assert row2["Samples"] >= 480
        # both workers (incl. the restarted one) took part again
        assert ps.last_stats.episodes >= 2


def test_mp_hung_worker_times_out(tmp_path):
    from mimic.sampling import ParallelSampler

    flag = str(tmp_path / "hung")
    with ParallelSampler(
        "test_parallel/HangOnce-v0",
        {"flag": flag, "hang_at": 20},
        num_workers=2,
        envs_per_worker=1,
        seed=0,
        worker_timeout=1.0,
        verbose=False,
    ) as ps:
        t0 = time.monotonic()
        eps = ps.collect(lambda o: (o[:, 2] > 0).astype(np.int64), min_samples=300)
        assert time.monotonic() - t0 < 30
        st = ps.last_stats
        assert os.path.exists(flag)
        assert st.worker_restarts == 1 and "hung" in st.events[0]
        assert sum(len(e) for e in eps) >= 300 and all(e.terminated != e.truncated or len(e) == 500 for e in eps)


def test_closing_under_a_collect_restarts_no_worker():
    """A collect still running on another thread when the sampler closes sees its workers' pipes
    close: it ends with a SamplerError and spawns no replacement workers."""
    import multiprocessing as mp
    import threading

    from mimic.sampling import ParallelSampler, SamplerError

    ps = ParallelSampler("test_parallel/JitteryStep-v0", {}, num_workers=2, seed=0, verbose=False)
    errors = []

    def collect():
        try:
            ps.collect(lambda o: np.zeros(len(o), np.int64), min_samples=100_000)
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=collect, daemon=True)
    t.start()
    time.sleep(0.5)  # mid-collect
    ps.close()
    t.join(30)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], SamplerError), errors
    assert "closed while collecting" in str(errors[0]) and ps.total_restarts == 0
    assert not [p for p in mp.active_children() if p.name.startswith("mimic-sampler")]


def test_sim_unstable_flows_through_and_bad_env_fails_fast():
    from mimic.sampling import ParallelSampler, protocol

    with ParallelSampler("test_parallel/UnstableAt-v0", {"at": 7}, num_workers=2, seed=0) as ps:
        assert ps.num_envs == 2 and not ps.vectorized  # default for plain envs: 1 per worker
        eps = ps.collect(lambda o: np.zeros(len(o), np.int64), min_samples=50)
        unstable = [e for e in eps if len(e) == 7]
        assert unstable and all(e.terminated and not e.truncated for e in unstable)
        assert ps.last_stats.sim_unstable_episodes == len(unstable)
        # a request left out by an interrupted collect is drained, not mistaken for the next reply
        ps.workers[0].send(protocol.encode_step(0, 0, 0, np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1, np.int64)))
        eps = ps.collect(lambda o: np.zeros(len(o), np.int64), min_samples=50)
        assert sum(len(e) for e in eps) >= 50 and ps.last_stats.worker_restarts == 0
    with pytest.raises(RuntimeError, match="(?s)worker 0.*failed to start.*no_such_option"):
        ParallelSampler(HUMANOID, {**KW, "no_such_option": 1}, num_workers=1)


def test_ray_backend_two_node_cluster(mimic_env):
    """Ray actors on a two-node local cluster (ray.cluster_utils.Cluster: each node its own raylet,
    workers reach the learner over TCP as from other machines) run the same worker loop: same
    episodes as the mp backend for the same seed/layout, no torch in the actors, one actor per
    node, and a killed actor is replaced."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from mimic.sampling import ParallelSampler

    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
    except Exception as e:  # e.g. no room for a Ray instance in this sandbox
        pytest.skip(f"could not start a local Ray cluster: {type(e).__name__}: {e}")
    obs_dim, act_dim = mimic_env.observation_space.shape[0], mimic_env.action_space.shape[0]
    try:
        with ParallelSampler(
            HUMANOID, KW, num_workers=2, envs_per_worker=2, seed=7, backend="ray", deterministic=True
        ) as ps:
            assert all(not w.info.torch_loaded for w in ps.workers)
            # two nodes of 1 CPU each, two 1-CPU actors, nothing left: one actor on each node
            assert sum(n["Alive"] for n in ray.nodes()) == 2
            assert ray.available_resources().get("CPU", 0) == 0
            eps = ps.collect(_random_act(ps.action_space, 1), min_samples=200)
            _check_episodes(eps, obs_dim, act_dim, 200)
            with ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=2, seed=7, deterministic=True) as mp_ps:
                assert _same(eps, mp_ps.collect(_random_act(ps.action_space, 1), min_samples=200))
            victim, calls, act = ps.worker_pids()[1], [0], _random_act(ps.action_space, 2)

            def killing_act(obs):
                calls[0] += 1
                if calls[0] == 3:
                    os.kill(victim, signal.SIGKILL)
                return act(obs)

            eps = ps.collect(killing_act, min_samples=200)
            assert ps.last_stats.worker_restarts == 1 and sum(len(e) for e in eps) >= 200
            assert ps.worker_pids()[1] != victim
    finally:
        ray.shutdown()
        cluster.shutdown()
