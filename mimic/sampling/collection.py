"""One call of ``ParallelSampler.collect``: the state of the env slots and the two schedules.

A :class:`Collection` holds what one collect tracks -- the episode running in each env slot, the
requests in flight, the counters, a :class:`CollectStats` -- and its methods are the steps a
schedule takes: ``absorb`` a reply, ``dispatch`` a batched policy call and the step requests,
``start_resets`` / ``refill`` free slots, ``fail`` a worker, ``finished``.  The schedules:

* :func:`run_deterministic`: rounds over the groups in turn, each waiting for that group's replies
  from ALL workers, so ``act_fn`` sees the same batches whatever the timing (reproducible);
* :func:`run_asynchronous`: acts on whatever replies are here, in arrival order; no worker waits
  for another (not reproducible).  With ``batch_hold`` a lone reply whose worker still steps its
  other group is held for at most half a group step, so that another worker's reply can share its
  policy call; the held worker keeps stepping meanwhile.

Slots: slot = w * K + (offset of group g) + k, worker-major, a worker's groups contiguous.
The workers send each episode back whole; the one per-step record kept here is the flags of an
``act_fn`` that says which actions it drew (``explored``), attached to each episode as it ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from mimic.sampling import protocol as P
from mimic.sampling.base import ActFn, split_act
from mimic.sampling.episode import Episode
from mimic.sampling.errors import SamplerError, first_line
from mimic.sampling.transport import WorkerFailure

if TYPE_CHECKING:
    from mimic.sampling.parallel import ParallelSampler


@dataclass
class CollectStats:
    """What happened in one collect (``ParallelSampler.last_stats``); times in seconds."""

    worker_restarts: int = 0
    dropped_episodes: int = 0  # partial episodes of failed workers
    dropped_samples: int = 0
    sim_unstable_episodes: int = 0  # episodes the env ended for non-finite physics
    rounds: int = 0  # act_fn calls
    held: int = 0  # loops a lone reply was held back to batch (asynchronous)
    act_time: float = 0.0  # in act_fn
    wait_time: float = 0.0  # blocked on workers
    env_time: float = 0.0  # the workers' wall time in their envs, summed
    env_cpu: float = 0.0  # ... and their CPU time
    samples: int = 0
    episodes: int = 0
    time: float = 0.0  # the whole collect
    coord_time: float = 0.0  # learner wall time neither blocked nor in act_fn (pipes, bookkeeping)
    learner_cpu: float = 0.0  # learner CPU time of the collect
    coord_cpu: float = 0.0  # ... less act_fn's
    events: list = field(default_factory=list)  # one line per worker failure
    total_worker_restarts: int = 0  # over the sampler's life
    total_dropped_episodes: int = 0

    def log_row(self) -> dict[str, Any]:
        """The entries of the learner's iteration row (log.csv and the console)."""
        return {
            "Worker_Restarts": self.worker_restarts,
            "Dropped_Episodes": self.dropped_episodes,
            "Sim_Unstable_Episodes": self.sim_unstable_episodes,
            "Sampler_Events": "; ".join(self.events) or None,
        }


class Collection:
    """The slots, requests and counters of one collect (see the module docstring)."""

    def __init__(
        self,
        sampler: "ParallelSampler",
        act_fn: ActFn,
        min_samples: int,
        total_samples: int,
        num_episodes: Optional[int],
    ):
        self.ps, self.act_fn = sampler, act_fn
        self.min_samples, self.total_samples, self.num_episodes = min_samples, total_samples, num_episodes
        N, K, sizes = sampler.num_workers, sampler.K, sampler.group_sizes
        self.N, self.K, self.sizes, self.G = N, K, sizes, len(sizes)
        offs = [sum(sizes[:g]) for g in range(self.G)]
        self.group_slots = [
            [range(w * K + offs[g], w * K + offs[g] + sizes[g]) for w in range(N)] for g in range(self.G)
        ]
        self.stats = CollectStats()
        self._t_start, self._cpu_start = time.perf_counter(), time.process_time()
        # the episode running in each slot: its start rank (None: idle) and its steps so far; the
        # transitions themselves are recorded by the worker and arrive whole when it ends
        S = N * K
        self.running: list[Optional[int]] = [None] * S
        self.length = np.zeros(S, np.int64)
        self.obs_now = np.zeros((S, sampler.obs_dim), np.float32)
        self.explored: Optional[np.ndarray] = None  # [S, capacity] flags of the running episodes, if act_fn gives them
        self.done: list[tuple[int, Episode]] = []
        self.ready = [False] * N
        self.inflight: list[dict] = [{} for _ in range(self.G)]  # group -> {w: slots} stepping
        self.resets: list[dict] = [{} for _ in range(self.G)]  # group -> {w: slots} being reset
        self.steps = self.live = self.rank = 0  # steps of kept episodes, kept + running episodes, start order
        self.stepping = 0  # steps in flight (requests sent, replies not processed)
        self.group_time = sampler.group_time  # running mean of a group step's duration
        self._ones, self._zeros = [b"\1" * k for k in sizes], [b"\0" * k for k in sizes]
        self._zero_idx = [bytes(8 * k) for k in sizes]

    # ------------------------------------------------------------------ bookkeeping
    def want_more(self) -> bool:
        if self.num_episodes is not None:
            return self.live < self.num_episodes
        return self.steps + self.stepping < self.min_samples

    def fail(self, w: int, reason: str) -> None:
        """Worker w failed: drop its running episodes, report, restart it (or stop the run when
        it has failed ``max_failures_in_a_row`` times without completing an episode)."""
        if self.ps.closed:  # closed under a collect on another thread: spawn nothing the exiting
            # learner would leave half-started
            raise SamplerError(f"sampler: closed while collecting; worker {w}: {first_line(reason)}")
        K, st = self.K, self.stats
        dropped = [s for s in range(w * K, (w + 1) * K) if self.running[s] is not None]
        n_steps = int(self.length[dropped].sum())
        for s in dropped:
            self.running[s] = None
        for g in range(self.G):
            if w in self.inflight[g]:
                self.stepping -= len(self.inflight[g].pop(w))
            self.resets[g].pop(w, None)
        self.steps -= n_steps
        self.live -= len(dropped)
        st.worker_restarts += 1
        st.dropped_episodes += len(dropped)
        st.dropped_samples += n_steps
        ev = (
            f"worker {w} (pid {self.ps.workers[w].pid}) {first_line(reason, brief=True)} -> restarted, "
            f"dropped {len(dropped)} partial episodes ({n_steps} steps)"
        )
        st.events.append(ev)
        self.ps.log(ev)
        if "\n" in reason.strip():
            self.ps.log(reason)
        self.ready[w] = False
        streak = self.ps.failure_streak
        streak[w] += 1
        if streak[w] >= self.ps.max_failures_in_a_row:
            raise SamplerError(
                f"sampler: worker {w} failed {streak[w]} times in a row without completing an "
                f"episode; last: {first_line(reason)}"
            )
        self.ps.restart(w)

    def poll(self, block: bool) -> None:
        """Mark workers whose handshake arrived as ready; fail ones that could not start."""
        timeout = self.ps.startup_timeout
        deadline = time.monotonic() + (timeout if block else 0.0)
        while True:
            for w, h in enumerate(self.ps.workers):
                if self.ready[w]:
                    continue
                try:
                    self.ready[w] = h.poll_ready(0.0)
                except WorkerFailure as e:
                    self.fail(w, f"start-up: {e}")
                    continue
                if not self.ready[w] and time.monotonic() - h.started_at > timeout:
                    self.fail(w, f"not ready within {timeout:g} s")
            if not block or any(self.ready) or time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def poll_new(self) -> None:
        """(Re)started workers join as soon as they are up."""
        if not all(self.ready):
            self.poll(block=False)

    def resync(self) -> None:
        """A previous collect that raised (e.g. KeyboardInterrupt in act_fn) may have left requests out."""
        for w, h in enumerate(self.ps.workers):
            try:
                h.drain(self.ps.worker_timeout)
            except WorkerFailure as e:
                self.fail(w, f"resync after an interrupted collect: {e}")

    # ------------------------------------------------------------------ replies
    def _timeout(self, workers: dict) -> float:
        return self.ps.startup_timeout if any(h.fresh for h in workers.values()) else self.ps.worker_timeout

    def _account(self, failures: dict, blocked: float, replies) -> None:
        self.stats.wait_time += blocked
        for w in sorted(failures):
            self.fail(w, failures[w])
        for r in replies:
            self.stats.env_time += r.env_time
            self.stats.env_cpu += r.env_cpu

    def gather(self, pending, g: int) -> dict:
        """Group g's replies of the workers in ``pending`` -> {w: Reply} (failed workers are failed)."""
        workers = {w: self.ps.workers[w] for w in pending}
        replies, failures, blocked = self.ps.backend.gather(
            workers, g, self._timeout(workers), self.ps.obs_dim, self.ps.names
        )
        self._account(failures, blocked, replies.values())
        return replies

    def gather_any(self, busy: set, wait_limit: Optional[float] = None) -> list:
        """The replies here from the ``busy`` workers, waiting for a first one -> [(w, Reply)]."""
        workers = {w: self.ps.workers[w] for w in busy}
        replies, failures, blocked = self.ps.backend.gather_any(
            workers, self._timeout(workers), self.ps.obs_dim, self.ps.names, wait_limit
        )
        self._account(failures, blocked, [r for _, r in replies])
        for _, r in replies:
            self.group_time = 0.9 * self.group_time + 0.1 * r.env_time if self.group_time else r.env_time
        return replies

    def absorb(self, g: int, w: int, r: P.Reply) -> None:
        """Worker w's step reply for group g: count the steps, take the episodes that ended."""
        ss = self.inflight[g].pop(w)
        n = len(ss)
        self.stepping -= n
        self.steps += n
        base = self.group_slots[g][w].start
        if n == self.sizes[g]:
            self.length[base : base + n] += 1
            self.obs_now[base : base + n] = r.obs
        else:
            self.length[ss] += 1
            self.obs_now[ss] = r.obs[[s - base for s in ss]]
        if r.episodes:
            self.ps.failure_streak[w] = 0
            for episode in r.episodes:
                self._take_episode(base, r, *episode)

    def _take_episode(self, base: int, r: P.Reply, k: int, obs, actions, rewards, sums) -> None:
        s, f = base + k, int(r.flags[k])
        if f & P.F_UNSTABLE:
            self.stats.sim_unstable_episodes += 1
        terminated = bool(f & P.F_TERMINATED)
        info = {f"reward_terms/{name}": v for name, v in zip(r.names, sums.tolist())}
        self.done.append(
            (
                self.running[s],
                Episode(
                    obs=obs[:-1],
                    actions=actions,
                    rewards=rewards,
                    final_obs=obs[-1],
                    terminated=terminated,
                    truncated=bool(f & P.F_TRUNCATED) and not terminated,
                    info=info,
                    explored=None if self.explored is None else self.explored[s, : len(rewards)].copy(),
                ),
            )
        )
        if f & P.F_RESTARTED:  # obs[k] is the next episode's first obs
            self._begin(s)
        else:
            self.running[s] = None

    def _begin(self, s: int) -> None:
        self.running[s] = self.rank
        self.length[s] = 0
        self.rank += 1
        self.live += 1

    # ------------------------------------------------------------------ requests
    def start_resets(self, g: int) -> None:
        """Explicit resets of group g's free slots while more episodes are wanted (slot order):
        the first round of a collect, slots of restarted workers, num_episodes mode."""
        ps = self.ps
        for w in range(self.N):
            if not self.ready[w] or w in self.resets[g] or w in self.inflight[g]:
                continue
            new = []
            for s in self.group_slots[g][w]:
                if self.running[s] is None and self.want_more():
                    self._begin(s)
                    new.append(s)
            if new:
                base = self.group_slots[g][w].start
                mask, idx = np.zeros(self.sizes[g], bool), np.zeros(self.sizes[g], np.uint64)
                for s in new:
                    mask[s - base] = True
                    idx[s - base] = ps.episode_count
                    ps.episode_count += 1
                self.resets[g][w] = new
                ps.workers[w].send(
                    P.encode_reset(g, self.total_samples + self.steps + self.stepping, ps.seed, idx, mask)
                )

    def refill(self, g: int) -> None:
        """Explicit resets of group g's free slots (rare, see start_resets), waited for."""
        self.start_resets(g)
        if self.resets[g]:
            sent, self.resets[g] = self.resets[g], {}
            for w, r in self.gather(sent, g).items():
                base = self.group_slots[g][w].start
                for s in sent[w]:
                    self.obs_now[s] = r.obs[s - base]

    def dispatch(self, units: list) -> None:
        """One batched policy call over the active slots of the (worker, group) units given
        (idle, ready ones), then a step request to each."""
        work = []  # (w, g, active slots of the unit)
        for w, g in units:
            ss = [s for s in self.group_slots[g][w] if self.running[s] is not None]
            if ss:
                work.append((w, g, ss))
        if not work:
            return
        if len(work) == 1 and len(work[0][2]) == self.sizes[work[0][1]]:
            rng = self.group_slots[work[0][1]][work[0][0]]
            slots = slice(rng.start, rng.stop)  # one whole group: a view, no gather
        else:
            slots = [s for _, _, ss in work for s in ss]
        batch = self.obs_now[slots]
        n = len(batch)
        t0 = time.perf_counter()  # (no process_time here: a ~3 us system call per round)
        actions, explored = split_act(self.act_fn(batch))
        self.stats.act_time += time.perf_counter() - t0
        if explored is not None:
            self._record_explored(slots, explored)
        self.stats.rounds += 1
        actions = actions.astype(self.ps.act_dtype, copy=False).reshape((n,) + self.ps.act_shape)
        # An episode that ends in this step is followed at once by the next one in the same
        # slot (reset inside the step request: no extra round trip) when more are wanted,
        # i.e. when the steps taken by then are still < min_samples -- SerialSampler's test at
        # the top of its next round.  The new episodes' indices are reserved now.
        restart = self.num_episodes is None and self.steps + self.stepping + n < self.min_samples
        total = self.total_samples + self.steps + self.stepping + n
        first_index = self.ps.episode_count
        if restart:
            self.ps.episode_count += n
        j = 0
        for w, g, ss in work:
            self._send_step(w, g, ss, actions[j : j + len(ss)], first_index + j if restart else None, total)
            j += len(ss)

    def _record_explored(self, slots, explored: np.ndarray) -> None:
        """Keep this round's flags at each slot's step index (the episodes' transitions themselves
        come back whole from the workers; the flags never leave this process)."""
        steps = self.length[slots]
        need = int(steps.max()) + 1
        if self.explored is None or need > self.explored.shape[1]:
            grown = np.ones((len(self.length), max(64, 2 * need)), bool)
            if self.explored is not None:
                grown[:, : self.explored.shape[1]] = self.explored
            self.explored = grown
        rows = np.arange(slots.start, slots.stop) if isinstance(slots, slice) else np.asarray(slots)
        self.explored[rows, steps] = explored

    def _send_step(self, w: int, g: int, ss: list, actions: np.ndarray, first_index: Optional[int], total: int) -> None:
        """The step request of unit (w, g) for its active slots ``ss``; ``first_index``: the episode
        index reserved for the first of them should its episode end (None: no restarts)."""
        Kg, base = self.sizes[g], self.group_slots[g][w].start
        n = len(ss)
        if n == Kg:  # the whole group active: no scatter
            a, m = actions, self._ones[g]
            idx = self._zero_idx[g] if first_index is None else np.arange(first_index, first_index + n, dtype=np.uint64)
        else:
            ks = [s - base for s in ss]
            a = np.zeros((Kg,) + self.ps.act_shape, self.ps.act_dtype)
            a[ks] = actions
            mask = np.zeros(Kg, np.uint8)
            mask[ks] = 1
            m = mask.tobytes()
            idx = np.zeros(Kg, np.uint64)
            if first_index is not None:
                idx[ks] = np.arange(first_index, first_index + n, dtype=np.uint64)
        restart = m if first_index is not None else self._zeros[g]
        self.ps.workers[w].send(P.encode_step(g, total, self.ps.seed, idx, m, restart, a))
        self.inflight[g][w] = ss
        self.stepping += n

    # ------------------------------------------------------------------ schedule helpers
    def idle_units(self) -> list:
        """(w, g) of ready workers with nothing in flight for group g."""
        return [
            (w, g)
            for w in range(self.N)
            if self.ready[w]
            for g in range(self.G)
            if w not in self.inflight[g] and w not in self.resets[g]
        ]

    def busy_workers(self) -> set:
        return {w for g in range(self.G) for w in self.inflight[g]}

    def hold_deadline(self, units: list, hold_until: Optional[float]) -> Optional[float]:
        """Until when to hold back the one idle unit (its worker steps its other groups, and
        another worker has a reply to come), or None to dispatch now."""
        if len(units) != 1 or self.G < 2 or self.group_time <= 0:
            return None
        w, g = units[0]
        if not (
            all(w in self.inflight[h] for h in range(self.G) if h != g)
            and any(w2 != w for g2 in range(self.G) for w2 in self.inflight[g2])
        ):
            return None
        now = time.monotonic()
        deadline = now + 0.5 * self.group_time if hold_until is None else hold_until
        if now < deadline:
            self.stats.held += 1
            return deadline
        return None

    def finished(self) -> bool:
        """Nothing running, nothing in flight, nothing more wanted (raises if no worker is up)."""
        if not any(self.inflight) and not any(self.resets) and self.running.count(None) == len(self.running):
            if not self.want_more():
                return True
            if not any(self.ready):
                self.poll(block=True)
                if not any(self.ready):
                    raise SamplerError("sampler: no worker could be (re)started")
        return False

    def result(self) -> list[Episode]:
        """The episodes in start order; completes the stats."""
        self.done.sort(key=lambda x: x[0])
        episodes = [ep for _, ep in self.done]
        st = self.stats
        st.samples = sum(len(e) for e in episodes)
        st.episodes = len(episodes)
        st.time = time.perf_counter() - self._t_start
        # wall clock (includes being descheduled on a busy machine) and CPU time (does not)
        st.coord_time = max(0.0, st.time - st.wait_time - st.act_time)
        st.learner_cpu = time.process_time() - self._cpu_start
        st.coord_cpu = max(0.0, st.learner_cpu - st.act_time)  # (act_fn's wall time ~ its CPU)
        return episodes


# ---------------------------------------------------------------------- schedules
def run_deterministic(c: Collection) -> None:
    """Rounds over the groups in turn, each waiting for that group's replies from ALL
    workers: act_fn sees the same batches whatever the timing."""
    g = c.G - 1
    while True:
        g = (g + 1) % c.G
        c.poll_new()
        if c.inflight[g]:
            for w, r in c.gather(c.inflight[g], g).items():  # (fail() drops dead workers' entries)
                c.absorb(g, w, r)
        c.refill(g)
        c.dispatch([(w, g) for w in range(c.N) if c.ready[w] and w not in c.inflight[g]])
        if c.finished():
            return


def run_asynchronous(c: Collection, batch_hold: bool) -> None:
    """Replies handled in arrival order, answered with one policy call for all that are in."""
    hold_until = None
    while True:
        c.poll_new()
        busy = c.busy_workers()
        if busy:
            limit = None if hold_until is None else max(0.0, hold_until - time.monotonic())
            for w, r in c.gather_any(busy, limit):
                c.absorb(r.group, w, r)
        if any(c.resets) or (c.want_more() and None in c.running):
            for g in range(c.G):
                c.refill(g)
        units = c.idle_units()
        if batch_hold:
            hold_until = c.hold_deadline(units, hold_until)
            if hold_until is not None:
                continue
        c.dispatch(units)
        if c.finished():
            return
