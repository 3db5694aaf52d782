"""Parallel experience collection: N worker processes (or Ray actors), K envs each.

    sampler = ParallelSampler("mimic/Humanoid-v0", {"motion": "humanoid3d_spinkick"},
                              num_workers=os.cpu_count(), seed=0)        # K: 16 (2 groups of 8)
    episodes = sampler.collect(agent.collect_act, min_samples=4096, total_samples=agent.total_samples)
    AWR(env, config, sampler=sampler)          # drop-in for SerialSampler

Design
* A worker owns K envs (K = ``envs_per_worker``; default 16 when the id has a vectorised env
  that supports caller-driven resets -- one pybullet world per character -- else 1), built
  from (env_id, kwargs) with Gymnasium calls only (:mod:`~mimic.sampling.env_group`).  The
  learner owns the policy.
* Rounds: for a set of env slots, (1) ONE batched ``act_fn`` call on their observations,
  (2) each worker steps its envs of the set and records the transitions, (3) the learner takes
  the new observations.  Episodes are assembled in the workers (:mod:`~mimic.sampling.recorder`)
  and cross the pipe whole when they end, so the learner's per-sample work is one batched policy
  call and a few array copies.
* Schedules (:mod:`~mimic.sampling.collection`): asynchronous by default (replies answered as they
  arrive, no worker waits for another; ``batch_hold`` lets a lone reply wait up to half a group
  step for company); ``deterministic=True``: rounds over the groups that wait for every worker, reproducible.
* Pipelining (default; ``pipeline=False`` for one group): a worker's envs form two groups
  (two vector envs of K/2) that alternate, so while a worker steps group A the learner handles
  group B's replies, runs act_fn for B and queues B's next request.
* Episode semantics are SerialSampler's: whole episodes; new episodes start while fewer than
  ``min_samples`` steps were taken (a batch is >= min_samples steps, and with S = N * K slots it
  can exceed it by up to S episodes); ``options={"total_samples": <samples so far>}`` and a
  per-episode seed on every reset; episodes returned in start order; unclipped actions stored,
  Box actions clipped in the worker; terminated / truncated / final obs as the env reports
  them; the env's NaN guard (``terminated`` + ``info["sim_unstable"]``) passes through, counted.
* Resets ride on the step: when an episode ends and more are wanted, the worker resets that
  env within the same request (seed of an episode index the learner reserved), so resets cost
  no round trip and run in parallel.  Explicit resets only start a collect / refill slots.
* Transport: one duplex pipe (or TCP socket) per worker carrying :mod:`~mimic.sampling.protocol`
  messages, raw bytes, no pickling on the hot path (:mod:`~mimic.sampling.transport`).  Backends:
  :mod:`~mimic.sampling.mp_backend` (local 'spawn' processes, never importing torch, one BLAS
  thread each) and :mod:`~mimic.sampling.ray_backend` (Ray places and supervises the workers).
* Faults: a worker that dies (EOF / process exit), raises, or does not answer within
  ``worker_timeout`` seconds is killed and restarted in the background; the episodes running on
  it are dropped (their steps no longer count toward ``min_samples``, so the batch is still
  >= min_samples of whole episodes) and collection goes on with the other workers.  The learner
  never blocks on one worker longer than ``worker_timeout`` (``startup_timeout`` for a worker's
  first reply, which builds its worlds).  A worker slot that fails ``max_failures_in_a_row``
  times (default 3) without completing an episode in between -- across collects -- raises
  :class:`SamplerError`: its worker evidently cannot work.  Once ``close()`` has begun, nothing
  is restarted: a collect still running on another thread ends with a SamplerError.
  ``last_stats`` (a CollectStats) says what happened in the last collect; ``log_stats()`` is
  what AWR merges into its iteration row.

Reproducibility
* ``deterministic=True``: same (seed, episode_count), same envs per round (N * K / G) and a
  deterministic act_fn call sequence (AWR's seeded generator) -> identical episodes, run after
  run, and for any layout with the same envs per round (e.g. 2 workers x 2 envs = 1 worker x 4
  envs; tested): every decision depends on slot order and step counts, never on which worker
  answers first.  Episode indices: explicit resets take the next ones in slot order; a reset
  riding on a step takes one reserved when the step was sent (``episode_count`` advances by the
  round's active slots) -- so indices are unique but sparse: ``episode_count`` counts indices used.
* Asynchronous (default): not bit-reproducible.  Each episode still starts from the seed of its
  index, and a collect's first episodes (explicit resets, slot order) are the same as above, but
  which index a later episode gets, and act_fn's batches (hence its random draws), depend on
  timing.
* Not identical to SerialSampler over S envs (it numbers episodes densely and never
  pipelines), but the same distribution of data; another S or G gives different, equally
  valid data.
* NOT reproducible in either mode: a collect in which a worker was restarted (where the crash
  fell is timing).  ``state_dict()`` is (seed, episode_count) as SerialSampler's, so checkpoints
  move between serial and parallel runs (a resumed run continues with fresh, unused seeds).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from typing import Any, Optional

import gymnasium as gym

from mimic.sampling.base import ActFn, Sampler
from mimic.sampling.collection import Collection, CollectStats, run_asynchronous, run_deterministic
from mimic.sampling.episode import Episode, episode_seed
from mimic.sampling.errors import SamplerError, first_line
from mimic.sampling.mp_backend import MPBackend
from mimic.sampling.protocol import ActionLayout
from mimic.sampling.ray_backend import RayBackend
from mimic.sampling.transport import StreamBackend, WorkerFailure

WORKER_SEED_STREAM = 0x5EED_0F_5A


def make_backend(
    backend: str, spec, env_kwargs: dict, num_envs: Optional[int], groups: int, ray_address: Optional[str]
) -> StreamBackend:
    if backend == "mp":
        return MPBackend(spec, env_kwargs, num_envs, groups)
    if backend == "ray":  # (imports ray only now)
        return RayBackend(spec, env_kwargs, num_envs, groups, ray_address=ray_address)
    raise ValueError(f"backend must be 'mp' or 'ray', got {backend!r}")


def resolve_spec(env_id):
    """An EnvSpec the workers can build from (entry points are imported there), or the id."""
    if isinstance(env_id, gym.envs.registration.EnvSpec):
        return env_id
    if ":" in env_id:  # "module:Id": gym.make's own syntax
        module, env_id = env_id.split(":", 1)
        importlib.import_module(module)
    return gym.spec(env_id)


class ParallelSampler(Sampler):
    """SerialSampler's interface over ``num_workers`` processes x ``envs_per_worker`` envs."""

    def __init__(
        self,
        env_id,
        env_kwargs: Optional[dict] = None,
        num_workers: Optional[int] = None,
        envs_per_worker: Optional[int] = None,
        seed: int = 0,
        backend: str = "mp",
        ray_address: Optional[str] = None,
        worker_timeout: float = 60.0,
        startup_timeout: float = 180.0,
        episode_count: int = 0,
        pipeline: bool = True,
        max_failures_in_a_row: int = 3,
        verbose: bool = True,
        deterministic: bool = False,
        batch_hold: bool = True,
    ):
        self.num_workers = int(num_workers or os.cpu_count() or 1)
        # envs_per_worker None: the workers choose (16 for a vectorised env, 1 for plain envs)
        self.K = None if envs_per_worker is None else int(envs_per_worker)
        if self.num_workers < 1 or (self.K is not None and self.K < 1):
            raise ValueError("num_workers and envs_per_worker must be >= 1")
        self.pipeline_groups = 2 if pipeline else 1  # a worker's envs in 2 alternating groups
        self.deterministic, self.batch_hold = bool(deterministic), bool(batch_hold)
        self.group_time = 0.0  # running mean of a group step's duration (s), for batch_hold
        self.seed, self.episode_count = int(seed), int(episode_count)
        self.worker_timeout, self.startup_timeout = float(worker_timeout), float(startup_timeout)
        self.max_failures_in_a_row = int(max_failures_in_a_row)
        self.failure_streak = [0] * self.num_workers  # failures of each slot since its last episode
        self.verbose = verbose
        self.env_kwargs = dict(env_kwargs or {})
        self.spec = resolve_spec(env_id)
        self.backend = make_backend(backend, self.spec, self.env_kwargs, self.K, self.pipeline_groups, ray_address)
        self.total_restarts = self.total_dropped = 0
        self.last_stats = CollectStats()
        self._closed = False
        self.workers = [self.backend.make(w, self._worker_seed(w, 0)) for w in range(self.num_workers)]
        self.generation = [0] * self.num_workers
        self.names: dict[int, list] = {w: [] for w in range(self.num_workers)}  # reward-term names
        self._start_workers()
        self._take_layout()

    def _start_workers(self) -> None:
        w = 0
        try:
            for h in self.workers:
                h.start()
            deadline = time.monotonic() + self.startup_timeout
            for w, h in enumerate(self.workers):  # noqa: B007 (w names the worker in the error below)
                while not h.poll_ready(min(1.0, max(0.0, deadline - time.monotonic()))):
                    if time.monotonic() > deadline:
                        raise WorkerFailure(f"not ready within {self.startup_timeout:g} s")
        except WorkerFailure as e:
            self.close()
            raise SamplerError(f"sampler: worker {w} for {self.spec.id!r}: {first_line(e)}") from None
        except BaseException:
            self.close()
            raise

    def _take_layout(self) -> None:
        """The spaces and env layout the workers built (all must agree)."""
        info = self.workers[0].info
        self.observation_space, self.action_space = info.observation_space, info.action_space
        self.obs_dim = int(info.obs_dim)
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        layout = ActionLayout.of(self.action_space)
        self.act_shape, self.act_dtype = layout.shape, layout.dtype
        self.vectorized = bool(info.vectorized)
        self.group_sizes = list(info.group_sizes)
        self.K = sum(self.group_sizes)
        for h in self.workers:
            if h.info.group_sizes != self.group_sizes:
                self.close()
                raise RuntimeError(
                    f"ParallelSampler: workers disagree on their envs: {h.info.group_sizes} vs {self.group_sizes}"
                )
        self.backend.num_envs = self.K  # restarted workers build exactly this layout

    def _worker_seed(self, w: int, generation: int) -> int:
        return episode_seed(self.seed ^ WORKER_SEED_STREAM, w * 1_000_003 + generation)

    @property
    def num_envs(self) -> int:
        return self.num_workers * self.K

    @property
    def closed(self) -> bool:
        return self._closed

    def worker_pids(self) -> list[Optional[int]]:
        return [h.pid for h in self.workers]

    def log(self, msg: str) -> None:
        if self.verbose:
            print(f"[mimic] sampler: {msg}", file=sys.stderr, flush=True)

    def restart(self, w: int) -> None:
        """Kills worker w and starts its replacement (it joins a collect once it is ready).
        Only ``Collection.fail`` calls it, which refuses once the sampler is closed."""
        self.workers[w].kill()
        self.generation[w] += 1
        self.workers[w] = h = self.backend.make(w, self._worker_seed(w, self.generation[w]))
        self.names[w] = []
        h.start()

    def collect(
        self, act_fn: ActFn, min_samples: int = 0, total_samples: int = 0, num_episodes: Optional[int] = None
    ) -> list[Episode]:
        """Whole episodes until >= ``min_samples`` steps (or exactly ``num_episodes`` episodes)."""
        if self._closed:
            raise RuntimeError("ParallelSampler is closed")
        c = Collection(self, act_fn, min_samples, total_samples, num_episodes)
        try:
            c.resync()
            c.poll(block=False)
            for g in range(c.G):
                c.start_resets(g)
            if self.deterministic:
                run_deterministic(c)
            else:
                run_asynchronous(c, self.batch_hold)
        except Exception as e:  # whatever a close() from another thread broke under this collect
            if self._closed and not isinstance(e, SamplerError):
                raise SamplerError(
                    f"sampler: closed while collecting ({type(e).__name__}: {first_line(e, brief=True)})"
                ) from e
            raise
        # workers restarted meanwhile that are not up yet join in the next collect
        episodes = c.result()
        self.group_time = c.group_time
        self.total_restarts += c.stats.worker_restarts
        self.total_dropped += c.stats.dropped_episodes
        c.stats.total_worker_restarts, c.stats.total_dropped_episodes = self.total_restarts, self.total_dropped
        self.last_stats = c.stats
        return episodes

    def log_stats(self) -> dict[str, Any]:
        """The last collect's entries of the iteration row (the same keys every call)."""
        return self.last_stats.log_row()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for h in getattr(self, "workers", []):
            try:
                h.close()
            except Exception:
                pass
        self.backend.shutdown()

    def __enter__(self) -> "ParallelSampler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
