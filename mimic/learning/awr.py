"""Advantage-Weighted Regression (Peng, Kumar, Zhang & Levine 2019), readable top to bottom.

Algorithm 1 (one iteration):
    1. collect >= samples_per_iter new env steps (whole episodes) with the current
       stochastic policy and add them to the FIFO replay buffer D
    2. fit V: regress V(s) onto TD(lambda) returns R computed over all of D with the
       PREVIOUS value function (critic_steps minibatch SGD steps)
    3. fit pi: weighted maximum likelihood on D,
           max  E_D[ w(s,a) log pi(a|s) ],   w = min(exp(A / beta), w_max),   A = R - V(s)
       with R, V recomputed with the NEW value function (as the official code)
Details that matter (xbpeng/awr):
    * the value net predicts V / (1/(1-gamma)); loss 0.5 * mean((R/sigma_v - V_n(s))^2)
    * optionally A is standardised, A_hat = (A - mean) / (std + 1e-5), then beta = 1
    * Gaussian policy with a FIXED std in normalised action units, plus an action-bound
      penalty 0.5 * sum(bound violation of the mean)^2 with weight 10
    * episodes that FAIL (terminated) end with V = 0; time-limit ends (truncated)
      bootstrap from V(s_T)
    * gradient steps per iteration scale with new_samples / samples_per_iter
Schedule (``schedule.py``): ``overlap`` (default) collects iteration k+1's episodes on a background
thread, with a CPU snapshot of the policy before update k, while update k runs; ``sync`` is the
order above.  Either way the collecting policy is ``collect_act`` (``sync_collect_policy``).
Ablations (config switches): weighting rwr (w = exp(R/beta), no baseline) / bc (w = 1),
on_policy (buffer = last batch), return_type mc, buffer_size; a static Dataset instead
of a sampler gives fully off-policy AWR.
The learner only sees Gymnasium spaces; env-specific hints are optional attributes
(``action_norm``, ``obs_norm``, ``max_episode_return``) read with get_wrapper_attr.
"""

from __future__ import annotations

import copy
import math
import os
import random
import threading
import time
from typing import Any, Callable, Optional, Sequence, Union

import gymnasium as gym
import numpy as np
import torch

from mimic.learning import checkpoint as ckpt
from mimic.learning import finite
from mimic.learning.buffer import FlatBatch, ReplayBuffer
from mimic.learning.config import AWRConfig
from mimic.learning.dataset import Dataset
from mimic.learning.logger import Logger
from mimic.learning.networks import CategoricalActor, Critic, GaussianActor
from mimic.learning.normalizer import Normalizer, box_mean_std
from mimic.learning.returns import td_lambda_returns
from mimic.learning.schedule import BackgroundCollect, ThreadBudget
from mimic.learning.spaces import flat_dim, space_to_dict
from mimic.learning.stopping import signals_held
from mimic.learning.values import ValueCache
from mimic.sampling import Episode, Sampler, SerialSampler, evaluate

CHECKPOINT_FORMAT = "mimic-awr-1"
EVAL_SEED_OFFSET = 1_000_003  # test episodes use seeds of a different stream


def env_attr(env: Optional[gym.Env], name: str):
    """Optional env hint via ``get_wrapper_attr``; None for ordinary Gymnasium envs."""
    if env is None:
        return None
    try:
        value = env.get_wrapper_attr(name)
    except AttributeError:
        return None
    return value() if callable(value) else value


def resolve_device(name: str) -> torch.device:
    """``auto``: the first CUDA device when torch sees one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        from mimic.learning.config import ConfigError

        raise ConfigError(f"agent config key 'device': {name!r} asked for, but torch sees no CUDA device")
    return device


def to_cpu(tree: Any) -> Any:
    """The same nested dicts / lists with every tensor on the CPU (checkpoints load anywhere)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu()
    if isinstance(tree, dict):
        return {k: to_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_cpu(v) for v in tree)
    return tree


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class AWR:
    """AWR agent.  ``AWR(env, config).learn(total_samples)``; ``predict(obs)``; ``save``/``load``."""

    # =====================================================================================
    # construction
    # =====================================================================================
    def __init__(
        self,
        env: Optional[gym.Env],
        config: Union[AWRConfig, dict, None] = None,
        *,
        eval_env: Optional[gym.Env] = None,
        seed: int = 0,
        sampler: Optional[Sampler] = None,
        dataset: Optional[Dataset] = None,
        verbose: int = 1,
    ):
        self.config = cfg = config if isinstance(config, AWRConfig) else AWRConfig.from_dict(config)
        cfg.validate()
        self.device = resolve_device(cfg.device)
        seed_everything(seed)
        self.seed, self.verbose = int(seed), verbose
        self.env = env
        self.eval_env = eval_env if eval_env is not None else env
        self.dataset = dataset
        if env is not None:
            self.observation_space, self.action_space = env.observation_space, env.action_space
        elif dataset is not None:
            self.observation_space, self.action_space = dataset.spaces()
        else:
            raise ValueError("AWR needs an env or a dataset")
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise TypeError(f"AWR needs a Box observation space, got {self.observation_space}")
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        if not (self.discrete or isinstance(self.action_space, gym.spaces.Box)):
            raise TypeError(f"AWR supports Box or Discrete actions, got {self.action_space}")
        self.obs_dim = flat_dim(self.observation_space)
        self.act_dim = flat_dim(self.action_space)
        self._init_action_norm(env)
        self._build_networks(env)

        # ---- randomness owned by the agent (saved in checkpoints) ----------------------
        self.action_generator = torch.Generator().manual_seed(seed)  # exploration noise
        self.update_rng = np.random.default_rng(seed)  # minibatch shuffles
        self._init_data(env, sampler, dataset, seed)

        # ---- counters --------------------------------------------------------------------
        self.iteration = 0  # completed iterations
        self.total_samples = 0  # env steps used for training
        self.wall_time = 0.0  # seconds spent in learn(), summed over resumes
        self.actor_step_count = 0
        self.critic_step_count = 0

    def _init_action_norm(self, env: Optional[gym.Env]) -> None:
        """env action = mean + std * normalised action (env hint, else the Box bounds)."""
        if self.discrete:
            a_mean, a_std = np.zeros(1), np.ones(1)
        else:
            hint = env_attr(env, "action_norm")
            a_mean, a_std = hint if hint is not None else box_mean_std(self.action_space.low, self.action_space.high)
        self.action_mean = np.asarray(a_mean, dtype=np.float32).reshape(-1)
        self.action_std = np.asarray(a_std, dtype=np.float32).reshape(-1)
        assert self.action_mean.size == self.act_dim and np.all(self.action_std > 0)
        if not self.discrete:
            low = np.asarray(self.action_space.low, dtype=np.float64).reshape(-1)
            high = np.asarray(self.action_space.high, dtype=np.float64).reshape(-1)
            self._norm_bound_low = torch.as_tensor((low - self.action_mean) / self.action_std, dtype=torch.float32)
            self._norm_bound_high = torch.as_tensor((high - self.action_mean) / self.action_std, dtype=torch.float32)

    def _build_networks(self, env: Optional[gym.Env]) -> None:
        """Observation normaliser (initial guess: env hint, else the Box bounds), actor, critic,
        the collecting CPU copies, optimisers; everything but the copies on ``self.device``."""
        cfg = self.config
        hint = env_attr(env, "obs_norm")
        if hint is not None:
            o_mean, o_std, fixed = hint
        else:
            (o_mean, o_std), fixed = box_mean_std(self.observation_space.low, self.observation_space.high), None
        self.obs_norm = Normalizer(self.obs_dim, o_mean, o_std, fixed, min_std=cfg.obs_norm_min_std, clip=cfg.obs_clip)

        # ---- networks and optimisers --------------------------------------------------
        if self.discrete:
            self.actor = CategoricalActor(
                self.obs_dim,
                int(self.action_space.n),
                cfg.actor_net_layers,
                cfg.activation,
                cfg.actor_init_output_scale,
            )
        else:
            self.actor = GaussianActor(
                self.obs_dim,
                self.act_dim,
                cfg.actor_net_layers,
                cfg.activation,
                cfg.actor_init_output_scale,
                cfg.action_std,
            )
        self.critic = Critic(self.obs_dim, cfg.critic_net_layers, cfg.activation)
        self.value_scale = 1.0 / (1.0 - cfg.discount) if cfg.discount < 1.0 else 1.0  # sigma_v
        # the policy that collects: a CPU copy, refreshed when a collect starts (see schedule.py)
        self.collect_actor = copy.deepcopy(self.actor)
        self.collect_obs_norm = copy.deepcopy(self.obs_norm)
        for m in (self.actor, self.critic, self.obs_norm):
            m.to(self.device)
        if not self.discrete:
            self._norm_bound_low = self._norm_bound_low.to(self.device)
            self._norm_bound_high = self._norm_bound_high.to(self.device)
        self.actor_optimizer = self._make_optimizer(self.actor, cfg.actor_lr, cfg.actor_momentum)
        self.critic_optimizer = self._make_optimizer(self.critic, cfg.critic_lr, cfg.critic_momentum)

    def _init_data(self, env, sampler, dataset: Optional[Dataset], seed: int) -> None:
        """The buffer (a static dataset's, or filled by the sampler) and the schedule's state."""
        cfg = self.config
        self.normalizer_count = 0  # states recorded into the obs normaliser so far
        if dataset is not None:  # fully off-policy: a static buffer
            self.buffer = ReplayBuffer(max(cfg.buffer_size, dataset.num_samples))
            self.buffer.add(dataset.episodes)
            self.sampler = None
            self._record_normalizer(dataset.episodes)
        else:
            self.buffer = ReplayBuffer(cfg.buffer_size)
            self.sampler = sampler if sampler is not None else SerialSampler(env, seed=seed)

        self.value_cache = ValueCache()
        self.refill_left = 0  # samples still to collect before the next update (a resume's refill)
        self.threads = ThreadBudget(
            cfg.num_threads, cfg.idle_threads, sampler_procs=self.sampler.num_workers if self.sampler else 0
        )
        self.threads.use(self.threads.idle)
        self.pending: Optional[BackgroundCollect] = None  # overlap: the collect of the next iteration
        self.pending_start: Optional[dict[str, Any]] = None  # ... and what it started from (checkpoints)
        self._resume_collect: Optional[dict[str, Any]] = None  # a checkpoint's unfinished collect
        self._collect_explore_prob = 1.0  # the running collect's share of drawn actions

    def _make_optimizer(self, net: torch.nn.Module, lr: float, momentum: float) -> torch.optim.Optimizer:
        if self.config.optimizer == "adam":
            return torch.optim.Adam(net.parameters(), lr=lr)
        return torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)

    def _apply_optimizer_settings(self) -> None:
        """Set lr (and SGD momentum) of both optimisers from the config, e.g. after loading
        optimiser state saved with other values: what runs is what the checkpoint records."""
        cfg = self.config
        for opt, lr, momentum in (
            (self.actor_optimizer, self._actor_lr(), cfg.actor_momentum),
            (self.critic_optimizer, cfg.critic_lr, cfg.critic_momentum),
        ):
            for group in opt.param_groups:
                group["lr"] = lr
                if "momentum" in group:
                    group["momentum"] = momentum

    def exploration_std(self) -> float:
        """The Gaussian's std (normalised units) at the samples so far: ``action_std``, or
        ``late_action_std`` from ``late_action_std_samples`` on (the last step reached)."""
        std = self.config.action_std
        for start, late in self.config.std_schedule():
            if self.total_samples >= start:
                std = late
        return float(std)

    def explore_prob_at(self, samples: int) -> float:
        """The share of collected actions drawn from the policy's distribution after ``samples``
        samples (``explore_prob`` and its linear schedule; the rest are taken at the mode)."""
        cfg = self.config
        start, end = cfg.explore_prob_start_samples, cfg.explore_prob_end_samples
        if samples < start:
            return 1.0
        frac = 1.0 if samples >= end else (samples - start) / (end - start)
        return float(1.0 + frac * (cfg.explore_prob - 1.0))

    def _actor_lr(self) -> float:
        """``actor_lr`` times (std / action_std)^2: the mean's regression keeps its rate when the std changes."""
        return self.config.actor_lr * (self.exploration_std() / self.config.action_std) ** 2

    def _apply_exploration_schedule(self) -> None:
        """Set the actor's std and step for the samples so far (the collecting copy takes the
        std with the next ``sync_collect_policy``)."""
        if self.discrete or self.config.late_action_std is None:
            return
        self.actor.log_std.fill_(math.log(self.exploration_std()))
        for group in self.actor_optimizer.param_groups:
            group["lr"] = self._actor_lr()

    # =====================================================================================
    # acting
    # =====================================================================================
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Batched: obs [n, obs_dim] -> env actions [n, act_dim] (Box) or [n] ints (Discrete)."""
        return self._act_with(self.actor, self.obs_norm, obs, deterministic)

    def collect_act(self, obs: np.ndarray):
        """The sampler's act_fn: the stochastic policy of the CPU snapshot (``sync_collect_policy``);
        with an exploration probability below 1, each action is drawn with that probability and
        taken at the mode otherwise, and the flags go with the actions."""
        p = self._collect_explore_prob
        if p >= 1.0:
            return self._act_with(self.collect_actor, self.collect_obs_norm, obs, False)
        drawn = self._act_with(self.collect_actor, self.collect_obs_norm, obs, False)
        mode = self._act_with(self.collect_actor, self.collect_obs_norm, obs, True)
        explored = torch.rand(len(drawn), generator=self.action_generator).numpy() < p
        keep = explored.reshape((-1,) + (1,) * (drawn.ndim - 1))
        return np.where(keep, drawn, mode), explored

    def sync_collect_policy(self) -> None:
        self.collect_actor.load_state_dict(self.actor.state_dict())
        self.collect_obs_norm.load_state_dict(self.obs_norm.state_dict())

    @torch.no_grad()
    def _act_with(self, actor: torch.nn.Module, norm: Normalizer, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        device = norm.mean.device
        z = norm(torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)).to(device))
        if deterministic:
            a = actor.mode(z)
        else:
            a = actor.sample(z, generator=self.action_generator)
        a = a.cpu().numpy()
        if self.discrete:
            return a.astype(np.int64) + int(self.action_space.start)
        return a * self.action_std + self.action_mean

    def predict(self, obs: np.ndarray, deterministic: bool = True):
        """Stable-Baselines3 style: returns (action, None); single obs or a batch."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == len(self.observation_space.shape)
        a = self.act(obs.reshape(-1, self.obs_dim), deterministic)
        if single:
            a = a[0]
            if not self.discrete:
                a = a.reshape(self.action_space.shape)
        return a, None

    def value(self, obs: np.ndarray) -> np.ndarray:
        """V(s) in return units."""
        obs = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)).to(self.device)
        return self._critic_values(self.obs_norm(obs))

    @torch.no_grad()
    def _critic_values(self, z: torch.Tensor) -> np.ndarray:
        """V for normalised states, in return units (chunked: big nets x 50k states)."""
        out = []
        for chunk in torch.split(z, 8192):
            self._use_threads()
            out.append(self.critic(chunk))
        return (torch.cat(out) if out else torch.zeros(0)).double().cpu().numpy() * self.value_scale

    # =====================================================================================
    # one iteration of Algorithm 1
    # =====================================================================================
    def train_iteration(self, more: Optional[Callable[[], bool]] = None) -> dict[str, Any]:
        """One iteration.  With ``schedule: overlap``, the next iteration's collect is started
        (before this update, with this iteration's pre-update policy) when ``more()`` says
        another iteration will follow (``learn`` passes it; without it nothing is started)."""
        cfg = self.config
        t0 = time.perf_counter()
        collect_stats = {}
        if self.sampler is not None:
            # 1. new whole episodes (the policy before this update; with overlap, one update older)
            episodes, collect_stats = self._take_episodes()
            episodes = finite.screen_episodes(episodes, self.iteration)
            new_samples = sum(len(e) for e in episodes)
            self.total_samples += new_samples
            self._apply_exploration_schedule()
            if cfg.on_policy:
                self.buffer.clear()
            self.buffer.add(episodes)
            self._record_normalizer(episodes)
            self.refill_left = max(0, self.refill_left - new_samples)
            if cfg.schedule == "overlap" and more is not None and more():
                self._start_collect()
        else:  # static dataset: no env interaction
            episodes, new_samples = [], cfg.samples_per_iter
        t1 = time.perf_counter()

        # 2. + 3. fit V, then pi, on the whole buffer (none while a resume refills it)
        stats = self.update(new_samples) if self.refill_left == 0 else {}
        t2 = time.perf_counter()
        self.iteration += 1

        stats.update(
            Iteration=self.iteration - 1,
            Samples=self.total_samples if self.sampler is not None else self.buffer.num_samples,
            Train_Return=float(np.mean([e.ret for e in episodes])) if episodes else None,
            Train_Episode_Length=float(np.mean([len(e) for e in episodes])) if episodes else None,
            Episodes=len(episodes),
            Buffer_Samples=self.buffer.num_samples,
            Sample_Time=t1 - t0,
            Update_Time=t2 - t1,
            **collect_stats,
        )
        return stats

    # ---- the collect: in the caller's thread (sync) or beside the update (overlap) -------------
    def _collect_start_state(self) -> dict[str, Any]:
        """Everything a collect starts from; a checkpoint taken while one runs stores this, so
        a resumed run repeats that collect exactly."""
        return {
            "actor": to_cpu(self.collect_actor.state_dict()),
            "obs_normalizer": to_cpu(self.collect_obs_norm.state_dict()),
            "action_generator": self.action_generator.get_state(),
            "sampler": self.sampler.state_dict(),
            "total_samples": self.total_samples,
        }

    def _run_collect(self, total_samples: int) -> tuple[list[Episode], dict[str, Any]]:
        """Episodes, and the collect's own row entries (its wall time, the sampler's fault counts)."""
        t = time.perf_counter()
        self._collect_explore_prob = self.explore_prob_at(total_samples)
        if threading.current_thread() is threading.main_thread():
            self.threads.use(1)  # batches of a few states: more threads only spin between calls
        else:
            torch.set_num_threads(1)  # (per thread: the update's count on the main thread stays)
        episodes = self.sampler.collect(
            self.collect_act, min_samples=self.config.samples_per_iter, total_samples=total_samples
        )
        # with worker processes: worker restarts, dropped episodes, ...
        stats = {"Collect_Time": time.perf_counter() - t, **self.sampler.log_stats()}
        return episodes, stats

    def _start_collect(self) -> None:
        self.sync_collect_policy()
        self.pending_start = self._collect_start_state()
        total = self.total_samples
        # a signal between the thread's start and this assignment would leave the collect running
        # unrecorded: wait_for_collect would not join it and the sampler would close under it
        with signals_held():
            self.pending = BackgroundCollect(lambda: self._run_collect(total))

    def _take_episodes(self) -> tuple[list[Episode], dict[str, Any]]:
        """The pending collect's episodes, or a collect now with the current policy, or -- first
        after a resume from a checkpoint written during a collect -- that collect again."""
        if self.pending is not None:
            pending = self.pending
            try:
                return pending.result()
            finally:
                # a signal raised while we wait leaves it pending, so wait_for_collect joins it before
                # the sampler closes (a collect left running would restart the workers it loses)
                if pending.done():
                    self.pending = self.pending_start = None
        resumed = self._resume_collect
        if resumed is not None:
            self.collect_actor.load_state_dict(resumed["actor"])
            self.collect_obs_norm.load_state_dict(resumed["obs_normalizer"])
            self._resume_collect = None
            return self._run_collect(int(resumed["total_samples"]))
        self.sync_collect_policy()
        return self._run_collect(self.total_samples)

    def wait_for_collect(self) -> None:
        """Let a running background collect finish (its episodes stay for the next iteration)."""
        if self.pending is not None:
            self.pending.join()

    def _use_threads(self) -> None:
        busy = self.pending is not None and not self.pending.done()
        self.threads.use(self.threads.busy if busy else self.threads.idle)

    def _record_normalizer(self, episodes: list[Episode]) -> None:
        """Observation statistics come from the first ``normalizer_samples`` states only."""
        if self.normalizer_count >= self.config.normalizer_samples or not episodes:
            return
        for ep in episodes:
            if self.normalizer_count >= self.config.normalizer_samples:
                break
            states = np.concatenate([ep.obs, ep.final_obs[None]])
            self.obs_norm.record(states)
            self.normalizer_count += len(states)
        self.obs_norm.update()

    def compute_returns(
        self, data: FlatBatch, z: torch.Tensor, z_final: torch.Tensor, episodes: Optional[Sequence[Episode]] = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R, V(s)) over ``data`` with the CURRENT value function (``episodes``: the episodes
        ``data`` flattens, whose values may then come from the value cache)."""
        cfg = self.config
        values, final_values = self.state_values(data, z, z_final, episodes)
        next_values = np.empty_like(values)
        next_values[:-1] = values[1:]
        # episode ends: failure -> 0, time limit -> V(s_T)
        next_values[data.end_index] = np.where(data.terminated, 0.0, final_values)
        lam = 1.0 if cfg.return_type == "mc" else cfg.td_lambda
        returns = td_lambda_returns(data.rewards, next_values, data.episode_end, cfg.discount, lam)
        return returns, values

    def state_values(
        self, data: FlatBatch, z: torch.Tensor, z_final: torch.Tensor, episodes: Optional[Sequence[Episode]] = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """V(s) and V(s_T); episodes whose values the same critic and normaliser already gave
        (the previous iteration's second pass) are not evaluated again."""
        if episodes is None or not self.config.reuse_values:
            return self._critic_values(z), self._critic_values(z_final)
        key = (self.critic_step_count, float(self.obs_norm.count))

        def evaluate(rows: np.ndarray, eps: np.ndarray):
            return (
                self._critic_values(z[torch.as_tensor(rows, device=z.device)]),
                self._critic_values(z_final[torch.as_tensor(eps, device=z.device)]),
            )

        return self.value_cache.values(episodes, data.end_index, key, evaluate)

    def update(self, new_samples: int) -> dict[str, Any]:
        cfg = self.config
        data = self.buffer.flat()
        n = len(data)
        dev = self.device
        z = self.obs_norm(torch.as_tensor(data.obs).to(dev))  # normalised states
        z_final = self.obs_norm(torch.as_tensor(data.final_obs).to(dev))
        if self.discrete:
            actions = torch.as_tensor(data.actions - int(self.action_space.start)).to(dev)
        else:
            actions = torch.as_tensor((data.actions - self.action_mean) / self.action_std, dtype=torch.float32).to(dev)

        scale = new_samples / cfg.samples_per_iter if cfg.scale_steps else 1.0
        critic_steps = int(math.ceil(cfg.critic_steps * scale))
        actor_steps = int(math.ceil(cfg.actor_steps * scale))

        # ---- 2. value function: regress onto TD(lambda) targets of the previous V ------------
        value_loss = float("nan")
        if cfg.weighting != "bc":
            returns, _ = self.compute_returns(data, z, z_final, self.buffer.episodes)
            target = torch.as_tensor(returns / self.value_scale, dtype=torch.float32).to(dev)
            losses = []
            for idx in self._minibatches(n, cfg.critic_batch_size, critic_steps):
                loss = 0.5 * (target[idx] - self.critic(z[idx])).pow(2).mean()
                self.critic_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.critic_optimizer.step()
                losses.append(loss.detach())
            value_loss = _mean(losses)
            self.critic_step_count += critic_steps

        # ---- advantages and weights (with the updated V), over the drawn actions only: one
        # taken at the mode says nothing about which way to move it (DeepMimic, MimicKit) --------
        drawn = np.flatnonzero(data.explored)
        if cfg.weighting == "bc":
            adv = np.zeros(len(drawn))
            weights = np.ones(len(drawn))
            clip_frac = 0.0
        else:
            returns, values = self.compute_returns(data, z, z_final, self.buffer.episodes)
            adv = (returns - values if cfg.weighting == "awr" else returns)[drawn]  # rwr: no baseline
            weights, clip_frac = self.compute_weights(adv)
        w = torch.as_tensor(weights, dtype=torch.float32).to(dev)
        if len(drawn) < n:
            rows = torch.as_tensor(drawn).to(dev)
            z, actions = z[rows], actions[rows]

        # ---- 3. policy: weighted maximum likelihood ------------------------------------------
        losses = []
        for idx in self._minibatches(len(drawn), cfg.actor_batch_size, actor_steps):
            out = self.actor(z[idx])  # mean or logits
            logp = self.actor.log_prob_from_output(out, actions[idx])
            loss = -(w[idx] * logp).mean() + self._policy_regularisers(out)
            self.actor_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.actor_optimizer.step()
            losses.append(loss.detach())
        self.actor_step_count += actor_steps

        return dict(
            Value_Loss=value_loss,
            Policy_Loss=_mean(losses),
            Adv_Mean=float(np.mean(adv)),
            Adv_Std=float(np.std(adv)),
            Weight_Mean=float(np.mean(weights)),
            Weight_Max=float(np.max(weights)),
            Clip_Frac=float(clip_frac),
        )

    def compute_weights(self, adv: np.ndarray) -> tuple[np.ndarray, float]:
        """w = min(exp(A_hat / beta), w_max); A_hat = standardised A if normalize_adv."""
        cfg = self.config
        if cfg.normalize_adv:
            adv = (adv - np.mean(adv)) / (np.std(adv) + cfg.adv_eps)
        log_w = np.asarray(adv, dtype=np.float64) / cfg.beta
        log_clip = math.log(cfg.weight_clip)
        clipped = log_w >= log_clip
        return np.exp(np.minimum(log_w, log_clip)), float(np.mean(clipped))

    def _policy_regularisers(self, out: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        loss = out.new_zeros(())
        if not self.discrete and cfg.action_bound_weight != 0:
            # 0.5 * sum of squared violations of the normalised action bounds by the mean
            below = torch.clamp(out - self._norm_bound_low, max=0.0)
            above = torch.clamp(out - self._norm_bound_high, min=0.0)
            loss = loss + cfg.action_bound_weight * 0.5 * (below.pow(2) + above.pow(2)).sum(-1).mean()
        if cfg.action_l2_weight != 0:
            loss = loss + cfg.action_l2_weight * 0.5 * out.pow(2).sum(-1).mean()
        if self.discrete and cfg.action_entropy_weight != 0:
            logp = torch.log_softmax(out, -1)
            entropy = -(logp.exp() * logp).sum(-1).mean()
            loss = loss - cfg.action_entropy_weight * entropy
        return loss

    def _minibatches(self, n: int, batch_size: int, steps: int):
        """Official scheme: reshuffle every ceil(n / batch_size) steps, indices wrap around."""
        steps_per_shuffle = max(1, math.ceil(n / batch_size))
        offsets = np.arange(batch_size)
        perm = None
        for b in range(steps):
            if b % steps_per_shuffle == 0:
                perm = self.update_rng.permutation(n)
            self._use_threads()
            yield torch.as_tensor(perm[(b * batch_size + offsets) % n]).to(self.device)

    # =====================================================================================
    # evaluation
    # =====================================================================================
    def test(self, num_episodes: int) -> dict[str, Any]:
        """Deterministic (mean / argmax) policy on the eval env, fixed seeds every call."""
        t0 = time.perf_counter()
        if isinstance(self.sampler, SerialSampler) and any(e is self.eval_env for e in self.sampler.envs):
            self.wait_for_collect()  # the collect steps this very env
        self.threads.use(1)
        eps = evaluate(
            self.eval_env,
            lambda o: self.act(o, deterministic=True),
            num_episodes,
            seed=self.seed + EVAL_SEED_OFFSET,
            total_samples=self.total_samples,
        )
        ret = float(np.mean([e.ret for e in eps]))
        max_ret = env_attr(self.eval_env, "max_episode_return")
        return dict(
            Test_Return=ret,
            Test_Episode_Length=float(np.mean([len(e) for e in eps])),
            Normalized_Test_Return=ret / float(max_ret) if max_ret else None,
            Test_Time=time.perf_counter() - t0,
        )

    # =====================================================================================
    # the training loop
    # =====================================================================================
    def learn(
        self,
        total_samples: Optional[int] = None,
        *,
        max_iters: Optional[int] = None,
        test_every: int = 10,
        test_episodes: int = 10,
        output_dir: Optional[str] = None,
        iters_per_checkpoint: int = 50,
        save_buffer: bool = False,
        tensorboard: bool = False,
        checkpoint_extra: Optional[dict[str, Any]] = None,
        callback: Optional[Callable[["AWR", dict], Optional[bool]]] = None,
    ) -> "AWR":
        """Iterate until ``total_samples`` env steps (online) and/or ``max_iters`` iterations.

        Every iteration: one log row (log.csv + console), ``model.pt`` rewritten atomically,
        ``model_{iter:06d}.pt`` every ``iters_per_checkpoint``.  Test episodes every
        ``test_every`` iterations (and at the last one); other rows leave test columns blank.
        ``callback(agent, row)`` returning False stops training.
        """
        if total_samples is None and max_iters is None:
            raise ValueError("learn() needs total_samples or max_iters")
        if self.sampler is None and max_iters is None:
            raise ValueError("training from a static dataset needs max_iters")
        logger = Logger(
            output_dir,
            resume_iteration=self.iteration if self.iteration > 0 else None,
            tensorboard=tensorboard,
            verbose=self.verbose,
            target_samples=total_samples if self.sampler is not None else None,
        )

        def finished(extra_iters: int = 0) -> bool:
            return (max_iters is not None and self.iteration + extra_iters >= max_iters) or (
                total_samples is not None and self.sampler is not None and self.total_samples >= total_samples
            )

        try:
            while not finished():
                t_start = time.perf_counter()
                row = self.train_iteration(more=lambda: not finished(extra_iters=1))
                finite.check_update(self, row)  # before the row and model.pt are written
                it = row["Iteration"]
                if (
                    self.eval_env is not None
                    and test_episodes > 0
                    and test_every > 0
                    and (it % test_every == 0 or finished())
                ):
                    row.update(self.test(test_episodes))
                self.wall_time += time.perf_counter() - t_start
                row["Wall_Time"] = self.wall_time
                logger.log(row)
                if output_dir:
                    periodic = iters_per_checkpoint > 0 and (it % iters_per_checkpoint == 0 or finished())
                    self._write_checkpoints(output_dir, it if periodic else None, save_buffer, checkpoint_extra)
                if callback is not None and callback(self, row) is False:
                    break
        finally:
            self.wait_for_collect()
            logger.close()
        return self

    def _write_checkpoints(self, output_dir: str, periodic: Optional[int], save_buffer: bool, extra) -> None:
        """``model.pt`` rewritten atomically, and copied to ``model_{periodic:06d}.pt`` unless None."""
        path = os.path.join(output_dir, ckpt.LATEST)
        self.save(path, save_buffer=save_buffer, extra=extra)
        if periodic is not None:
            ckpt.atomic_copy(path, os.path.join(output_dir, ckpt.periodic_name(periodic)))

    # =====================================================================================
    # checkpoints
    # =====================================================================================
    def state_dict(self, save_buffer: bool = False) -> dict[str, Any]:
        s = {
            "format": CHECKPOINT_FORMAT,
            "algo": "AWR",
            "config": self.config.to_dict(),
            "seed": self.seed,
            "observation_space": space_to_dict(self.observation_space),
            "action_space": space_to_dict(self.action_space),
            "action_mean": torch.as_tensor(self.action_mean),
            "action_std": torch.as_tensor(self.action_std),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "obs_normalizer": self.obs_norm.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "counters": {
                "iteration": self.iteration,
                "total_samples": self.total_samples,
                "wall_time": self.wall_time,
                "actor_steps": self.actor_step_count,
                "critic_steps": self.critic_step_count,
                "normalizer_samples": self.normalizer_count,
                "refill_left": self.refill_left,
            },
            "rng": {
                "global": ckpt.get_global_rng_state(),
                "action_generator": self.action_generator.get_state(),
                "update_rng": ckpt.generator_state(self.update_rng),
            },
            "sampler": self.sampler.state_dict() if self.sampler is not None else None,
            "buffer": self.buffer.state_dict() if save_buffer else None,
            "value_cache": self.value_cache.state_dict(self.buffer.episodes) if save_buffer else None,
            "pending_collect": None,
        }
        start = self.pending_start or self._resume_collect
        if start is not None:  # a collect is running: save what it started from
            s["rng"]["action_generator"] = start["action_generator"]
            s["sampler"] = start["sampler"]
            s["pending_collect"] = {
                k: start[k] for k in ("actor", "obs_normalizer", "total_samples", "action_generator", "sampler")
            }
        return to_cpu(s)

    def load_state_dict(self, s: dict[str, Any], load_buffer: bool = True) -> None:
        self.actor.load_state_dict(s["actor"])
        self.critic.load_state_dict(s["critic"])
        self.obs_norm.load_state_dict(s["obs_normalizer"])
        self.action_mean = s["action_mean"].numpy().copy()
        self.action_std = s["action_std"].numpy().copy()
        if "actor_optimizer" in s:
            self.actor_optimizer.load_state_dict(s["actor_optimizer"])
            self.critic_optimizer.load_state_dict(s["critic_optimizer"])
            self._apply_optimizer_settings()  # the config's lr / momentum, not the saved ones
        c = s.get("counters", {})
        self.iteration = int(c.get("iteration", 0))
        self.total_samples = int(c.get("total_samples", 0))
        self.wall_time = float(c.get("wall_time", 0.0))
        self.actor_step_count = int(c.get("actor_steps", 0))
        self.critic_step_count = int(c.get("critic_steps", 0))
        self.normalizer_count = int(c.get("normalizer_samples", 0))
        self._apply_exploration_schedule()  # the config's std and actor step at the restored sample count
        if "rng" in s:
            ckpt.set_global_rng_state(s["rng"]["global"])
            self.action_generator.set_state(s["rng"]["action_generator"])
            ckpt.set_generator_state(self.update_rng, s["rng"]["update_rng"])
        if s.get("sampler") is not None and self.sampler is not None:
            self.sampler.load_state_dict(s["sampler"])
        if load_buffer and s.get("buffer") is not None and self.dataset is None:
            self.buffer.load_state_dict(s["buffer"])
            self.value_cache.load_state_dict(s.get("value_cache"), self.buffer.episodes)
            self.refill_left = int(c.get("refill_left", 0))
        elif self.sampler is not None and self.config.refill_before_update and not self.config.on_policy:
            self.refill_left = self.config.buffer_size if self.iteration > 0 else 0
        self._resume_collect = s.get("pending_collect") if self.sampler is not None else None

    def save(self, path: str, save_buffer: bool = False, extra: Optional[dict[str, Any]] = None) -> None:
        s = self.state_dict(save_buffer=save_buffer)
        s.update(extra or {})
        ckpt.atomic_save(s, path)

    @classmethod
    def from_checkpoint(
        cls,
        source: Union[str, dict[str, Any]],
        env: Optional[gym.Env] = None,
        *,
        eval_env: Optional[gym.Env] = None,
        config_overrides: Optional[dict] = None,
        sampler: Optional[Sampler] = None,
        dataset: Optional[Dataset] = None,
        verbose: int = 1,
    ) -> "AWR":
        """The agent a checkpoint (a path, or its contents from ``checkpoint.read_checkpoint``)
        holds.  With ``env`` (or ``dataset``): everything, to train on (``--resume``); without:
        nets and normaliser only, to act with (spaces from the checkpoint)."""
        s = ckpt.read_checkpoint(source) if isinstance(source, str) else source
        where = source if isinstance(source, str) else "checkpoint"
        cfg = AWRConfig.from_dict({**s["config"], **(config_overrides or {})}, source=where)
        if env is None and dataset is None:  # acting only: spaces come from the checkpoint
            empty = Dataset(episodes=[], observation_space=s["observation_space"], action_space=s["action_space"])
            agent = cls(None, cfg, seed=int(s["seed"]), dataset=empty, verbose=verbose)
            agent.load_state_dict(s, load_buffer=False)
            return agent
        agent = cls(env, cfg, eval_env=eval_env, seed=int(s["seed"]), sampler=sampler, dataset=dataset, verbose=verbose)
        agent.load_state_dict(s)
        return agent


def _mean(losses: list[torch.Tensor]) -> float:
    """Mean of per-step losses with one device sync, not one per step."""
    return float(torch.stack(losses).mean()) if losses else float("nan")
