"""Training schedules (sync / overlap), thread counts, devices and the value cache, on real envs.

Humanoid runs use tiny nets and 0.5 s training episodes so that each test takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import gymnasium as gym
import numpy as np
import pytest
import torch

from mimic.learning import AWR, AWRConfig
from mimic.learning.config import ConfigError

HUMANOID = "mimic/Humanoid-v0"
KW = {"motion": "humanoid3d_spinkick", "mode": "train"}
SMALL = dict(
    actor_net_layers=[32, 32],
    critic_net_layers=[32, 32],
    samples_per_iter=240,
    actor_steps=6,
    critic_steps=6,
    actor_batch_size=64,
    critic_batch_size=64,
    buffer_size=2000,
)


@pytest.fixture(scope="module")
def mimic_env():
    import mimic  # noqa: F401

    env = gym.make(HUMANOID, **KW)
    yield env
    env.close()


def _check_episodes(episodes, obs_dim, act_dim):
    assert episodes
    for e in episodes:
        assert len(e) >= 1 and e.obs.shape == (len(e), obs_dim) and e.actions.shape == (len(e), act_dim)
        assert e.final_obs.shape == (obs_dim,) and (e.terminated or e.truncated)
        assert np.isfinite(e.obs).all() and np.isfinite(e.rewards).all()


def test_thread_count_does_not_change_the_update():
    """The schedule switches torch's thread count in the middle of updates; the numbers must not move."""

    def run(threads):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(197, 512), torch.nn.ReLU(), torch.nn.Linear(512, 36))
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(2000, 197, generator=g), torch.randn(2000, 36, generator=g)
        for i in range(12):
            torch.set_num_threads(threads[i % len(threads)])
            idx = torch.randint(0, 2000, (256,), generator=g)
            loss = (net(x[idx]) - y[idx]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return [p.detach().clone() for p in net.parameters()]

    before = torch.get_num_threads()
    try:
        one, two, mixed = run([1]), run([2]), run([1, 2])
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(one, two, mixed))


@pytest.mark.parametrize("schedule", ["sync", "overlap"])
def test_schedules_give_whole_episodes_and_training_goes_on(mimic_env, schedule):
    from mimic.sampling import ParallelSampler

    cfg = AWRConfig(**SMALL, schedule=schedule)
    obs_dim, act_dim = mimic_env.observation_space.shape[0], mimic_env.action_space.shape[0]
    with ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=4, seed=3) as ps:
        agent = AWR(mimic_env, cfg, seed=3, sampler=ps, verbose=0, eval_env=mimic_env)
        rows = []
        agent.learn(max_iters=3, test_every=0, callback=lambda a, row: rows.append(row))
        assert agent.pending is None or agent.pending.done()  # nothing left running
        assert agent.iteration == 3 and [r["Iteration"] for r in rows] == [0, 1, 2]
        assert agent.total_samples == rows[-1]["Samples"] >= 3 * cfg.samples_per_iter
        assert agent.buffer.num_samples == agent.total_samples  # every consumed episode is in D
        _check_episodes(list(agent.buffer.episodes), obs_dim, act_dim)
        assert all(np.isfinite(r["Value_Loss"]) and np.isfinite(r["Policy_Loss"]) for r in rows)
        # the learner took only what it had asked for: no collect ran past the last iteration
        assert agent.pending is None


def test_overlap_acts_with_the_policy_from_before_the_update(mimic_env):
    from mimic.sampling import ParallelSampler

    with ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=4, seed=5) as ps:
        agent = AWR(mimic_env, AWRConfig(**SMALL, schedule="overlap"), seed=5, sampler=ps, verbose=0)
        agent.train_iteration(more=lambda: True)
        before = {k: v.clone() for k, v in agent.actor.state_dict().items()}
        agent.train_iteration(more=lambda: True)  # starts collect #3, then updates
        started_with = agent.pending_start["actor"]
        assert all(torch.equal(started_with[k], before[k]) for k in before)  # one update old
        assert not all(torch.equal(agent.actor.state_dict()[k], before[k]) for k in before)
        episodes, _ = agent._take_episodes()
        _check_episodes(episodes, agent.obs_dim, agent.act_dim)


def test_worker_killed_during_an_overlapped_update_is_survived(mimic_env):
    from mimic.sampling import ParallelSampler

    with ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=4, seed=1, worker_timeout=30) as ps:
        agent = AWR(mimic_env, AWRConfig(**SMALL, schedule="overlap"), seed=1, sampler=ps, verbose=0)
        agent.train_iteration(more=lambda: True)  # the next collect now runs beside the update
        victim = ps.worker_pids()[0]
        update = agent.update

        def killing_update(new_samples):
            os.kill(victim, signal.SIGKILL)  # while the background collect runs
            return update(new_samples)

        agent.update = killing_update
        agent.train_iteration(more=lambda: True)
        agent.update = update
        row = agent.train_iteration(more=lambda: False)  # takes the collect that lost the worker
        assert row["Worker_Restarts"] == 1 and ps.worker_pids()[0] != victim
        assert row["Samples"] >= 3 * SMALL["samples_per_iter"]
        row = agent.train_iteration()  # and the restarted worker samples again
        assert row["Worker_Restarts"] == 0
        _check_episodes(list(agent.buffer.episodes), agent.obs_dim, agent.act_dim)


def test_signal_while_waiting_for_the_collect_leaves_it_to_be_joined(mimic_env):
    """Ctrl-C while the learner waits for a background collect: the collect stays pending, so
    wait_for_collect joins it before the sampler closes (a collect left running would see its
    workers close and restart them while the interpreter exits)."""
    from mimic.learning.stopping import Interrupted, signal_handlers
    from mimic.sampling import ParallelSampler

    cfg = AWRConfig(**{**SMALL, "samples_per_iter": 20_000}, schedule="overlap")
    with ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=4, seed=2) as ps:
        agent = AWR(mimic_env, cfg, seed=2, sampler=ps, verbose=0)
        agent._start_collect()  # seconds of sampling
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        with signal_handlers(), pytest.raises(Interrupted):
            timer.start()
            agent._take_episodes()
        timer.join()
        assert agent.pending is not None and not agent.pending.done()
        agent.wait_for_collect()
        assert agent.pending.done()
        episodes, _ = agent._take_episodes()  # the joined collect's episodes are still there
        assert agent.pending is None and sum(len(e) for e in episodes) >= cfg.samples_per_iter


def test_signal_while_the_collect_starts_leaves_it_to_be_joined(mimic_env, monkeypatch):
    """Ctrl-C just as the background collect's thread starts (before the learner has recorded it)
    is held until it is recorded, so wait_for_collect still joins it before the sampler closes."""
    import mimic.learning.awr as awr_module
    from mimic.learning.schedule import BackgroundCollect
    from mimic.learning.stopping import Interrupted, signal_handlers
    from mimic.sampling import ParallelSampler

    class SignalledAtStart(BackgroundCollect):
        def __init__(self, collect):
            super().__init__(collect)
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs before __init__ returns

    monkeypatch.setattr(awr_module, "BackgroundCollect", SignalledAtStart)
    cfg = AWRConfig(**{**SMALL, "samples_per_iter": 2_000}, schedule="overlap")
    with ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=4, seed=3) as ps:
        agent = AWR(mimic_env, cfg, seed=3, sampler=ps, verbose=0)
        with signal_handlers(), pytest.raises(Interrupted):
            agent._start_collect()
        assert isinstance(agent.pending, SignalledAtStart)
        agent.wait_for_collect()
        episodes, stats = agent.pending.result()
        assert sum(len(e) for e in episodes) >= cfg.samples_per_iter and stats["Worker_Restarts"] == 0


def test_value_cache_gives_the_values_a_full_pass_gives():
    """Second pass of iteration k == first pass of k+1 (normaliser frozen): cached values equal
    a full evaluation within float rounding; with the normaliser moving, nothing is reused."""
    env = gym.make("CartPole-v1")
    cfg = AWRConfig(
        samples_per_iter=300, actor_steps=5, critic_steps=5, normalizer_samples=600, critic_lr=0.01, optimizer="sgd"
    )
    agent = AWR(env, cfg, seed=0, verbose=0)
    calls = []
    values = agent._critic_values
    agent._critic_values = lambda z: calls.append(len(z)) or values(z)
    for _ in range(4):
        calls.clear()
        agent.train_iteration()
    data = agent.buffer.flat()
    z = agent.obs_norm(torch.as_tensor(data.obs))
    zf = agent.obs_norm(torch.as_tensor(data.final_obs))
    R, V = agent.compute_returns(data, z, zf, agent.buffer.episodes)  # from the cache
    R_full, V_full = agent.compute_returns(data, z, zf)  # evaluated again
    np.testing.assert_allclose(V, V_full, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(R, R_full, rtol=1e-6, atol=1e-6)
    # iteration 4 (normaliser frozen): pass 1 evaluated only the new episodes' states
    n = len(data)
    assert calls[0] < n and calls[2] == n, calls


def test_device_choice_and_errors():
    from mimic.learning.awr import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device.*no CUDA"):
            AWR(gym.make("CartPole-v1"), AWRConfig(device="cuda"), verbose=0)
    with pytest.raises(ConfigError, match="device"):
        AWRConfig(device="tpu").validate()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_checkpoint_loads_and_views_on_cpu(tmp_path):
    from mimic.cli.train import main

    out = tmp_path / "run"
    assert (
        main(
            [
                "--env",
                "CartPole-v1",
                "--agent_config",
                "args/agents/awr_official.yaml",
                "--device",
                "cuda",
                "--max_iters",
                "2",
                "--samples_per_iter",
                "200",
                "--test_episodes",
                "1",
                "--plot_every",
                "0",
                "--num_workers",
                "1",
                "--output_dir",
                str(out),
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    script = (
        "from mimic.rebuild import load_agent; import torch; assert not torch.cuda.is_available();"
        f"a, _ = load_agent({str(out / 'model.pt')!r}); print(a.device, a.predict([0, 0, 0.05, 0])[0])"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("cpu"), r.stderr


def test_cpu_checkpoint_holds_cpu_tensors(tmp_path):
    env = gym.make("CartPole-v1")
    agent = AWR(env, AWRConfig(samples_per_iter=200, actor_steps=2, critic_steps=2, device="cpu"), verbose=0)
    agent.train_iteration()
    agent.save(str(tmp_path / "m.pt"))
    s = torch.load(tmp_path / "m.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in s["actor"].values())
