"""DeepMimic-style motion imitation as Gymnasium environments.

One episode: reference-state initialisation at a time drawn uniformly over the clip, then a policy
at 30 Hz driving stable-PD targets with physics at 240 Hz (8 steps per action, the PD command
re-issued before every step). The reward is DeepMimic's five-term imitation reward (see
mimic.envs.reward); the observation its DM-2019 state (mimic.envs.observation); the action its
axis-angle PD targets (mimic.envs.action). Options that are not DeepMimic's: ``action_rotation=
'exp_map'`` (DM-2021's ball-joint actions), ``obs_rotation='6d'`` (DM-2021's 6-D rotations in the
observation) and ``pd_targets='relative'`` (targets relative to the reference pose of the next
control step; ``residual_scale`` shrinks or widens their range), ``target_obs_steps``
(MimicKit's target observation: the reference at those future control steps, appended) and
``start_sampling='adaptive'`` (training starts drawn by recent failure, mimic.envs.starts) and
``tracking_termination=d`` (training episodes end once the root or an end effector is more than d m
from the reference, mimic.envs.tracking) and ``assist=w`` (a root spring-damper of natural
frequency w pulling the root towards the reference in training episodes, annealed to nothing over
``assist_anneal_samples``: the virtual assistant of Yu et al. 2018, mimic.envs.assist).

Episode ends:
* ``terminated`` with ``info["fallen"]``: a fall-contact body touched the ground (reward 0 that step);
* ``terminated`` with ``info["clip_end"]``: a non-looping clip reached its end;
* ``terminated`` with ``info["sim_unstable"]``: the physics produced non-finite values;
* ``terminated`` with ``info["deviated"]``: with ``tracking_termination`` set, a training
  episode's root or end effector drifted beyond that distance from the reference (the step keeps
  its reward; test episodes never end this way, so tests compare like with like);
* ``truncated``: the time limit (20 s in test mode; in training annealed from 0.5 s to 20 s over the
  first ``anneal_samples`` samples as (samples / anneal_samples)^4, as DeepMimic does; with
  ``anneal_schedule='step'``, 0.5 s until ``anneal_samples`` and 20 s from then on). With
  ``short_episodes=f``, a fraction f of each character's training episodes, spread evenly, is cut
  at ``short_episode_limit`` (2 s) instead, so that more of the samples come from the first
  seconds after a start.

Looping clips: the reference root advances by the clip's per-cycle drift (vertical part dropped),
and at each cycle wrap the reference root x, z is re-synced to the simulated root (C++
SyncKinCharNewCycle) so root error never accumulates over cycles. Heading is not accumulated.

Structure: :class:`ImitationTask` runs K characters, each in its own pybullet world, and does the
reward, observation, action and reference work for all K in one call each: the compiled kernels of
mimic/envs/kernels.py when built, else the numpy modules (same formulas; numpy's per-call cost,
not arithmetic, bounds those, so a batch of K pays it once instead of K times).
:class:`ImitationEnv` is the ``gymnasium.Env`` (K = 1); :class:`ImitationVectorEnv` is the
``gymnasium.vector.VectorEnv`` (K = num_envs, same-step autoreset) that samplers use.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from mimic.envs import kernels
from mimic.envs.action import ActionMap
from mimic.envs.assist import root_assist
from mimic.envs.observation import ObservationBuilder, TargetFrames
from mimic.envs.reward import REWARD_TERMS, ImitationReward
from mimic.envs.starts import START_SAMPLING, AdaptiveStarts
from mimic.envs.tracking import TrackingTermination
from mimic.kinematics.character import load_character
from mimic.kinematics.clip import load_clip
from mimic.kinematics.fk import lowest_point
from mimic.kinematics.reference import ReferenceMotion
from mimic.kinematics.rotations import heading_frames
from mimic.paths import resolve_motion
from mimic.sim.link_state import JOINT_POS, JOINT_ROT
from mimic.sim.link_state import SIZE as LINK_STATE_SIZE

MODES = ("train", "test")
# how training episodes grow from initial_time_limit to time_limit over anneal_samples: DeepMimic's
# (samples / anneal_samples)^4, or a single step at anneal_samples
ANNEAL_SCHEDULES = ("quartic", "step")


def character_for_motion(motion_path: Path) -> str:
    """The character a clip belongs to, from its name (DeepMimic names clips <character>_...)."""
    return "dog" if Path(motion_path).stem.startswith("dog") else "humanoid"


class ImitationTask:
    """K characters imitating one clip, each in its own physics world, stepped together."""

    def __init__(
        self,
        num=1,
        motion="humanoid3d_walk",
        character=None,
        mode="train",
        kinematic=False,
        time_limit=20.0,
        initial_time_limit=0.5,
        anneal_samples=32e6,
        anneal_schedule="quartic",
        control_rate=30.0,
        sim_rate=240.0,
        rsi=True,
        early_termination=True,
        sync_root=True,
        reward_weights=None,
        reward_scales=None,
        action_rotation="axis_angle",
        pd_targets="absolute",
        residual_scale=1.0,
        obs_rotation="quat",
        target_obs_steps=(),
        start_sampling="uniform",
        tracking_termination=0.0,
        assist=0.0,
        assist_anneal_samples=1e6,
        short_episodes=0.0,
        short_episode_limit=2.0,
    ):
        _check_episode_options(mode, start_sampling, anneal_samples, anneal_schedule, short_episodes)
        _check_positive(num=num, time_limit=time_limit, initial_time_limit=initial_time_limit)
        _check_positive(short_episode_limit=short_episode_limit)
        self.substeps = _substeps(sim_rate, control_rate)
        self.num = K = int(num)
        motion_path = resolve_motion(motion)
        self.character = load_character(character or character_for_motion(motion_path))
        self.clip = load_clip(motion_path, self.character)
        self.motion_path = motion_path
        self.mode = mode
        self.kinematic = bool(kinematic)
        self.time_limit = float(time_limit)
        self.initial_time_limit = float(initial_time_limit)
        self.anneal_samples = float(anneal_samples)
        self.anneal_schedule = anneal_schedule
        self.short_episodes = float(short_episodes) if mode == "train" else 0.0
        self.short_episode_limit = float(short_episode_limit)
        self.rsi = bool(rsi)
        self.early_termination = bool(early_termination)
        self.sync_root = bool(sync_root)
        self.control_rate, self.sim_rate = float(control_rate), float(sim_rate)
        self.control_dt = 1.0 / control_rate

        self.reference = ReferenceMotion(self.clip)
        # training starts drawn by recent failure (test episodes keep DeepMimic's uniform draw)
        adaptive = start_sampling == "adaptive" and mode == "train" and self.rsi
        self.starts = AdaptiveStarts(self.clip.duration, self.clip.loop) if adaptive else None
        self.tracking = _tracking_termination(tracking_termination, self.character, mode, self.kinematic)
        self.assist = root_assist(assist, assist_anneal_samples, self.character, mode, self.kinematic)
        self.action_map = ActionMap(self.character, action_rotation, pd_targets, residual_scale)
        self.observer = ObservationBuilder(self.character, obs_rotation)
        self.targets = TargetFrames(self.character, self.reference, target_obs_steps, self.control_dt)
        self.obs_size = self.observer.size + self.targets.size
        self.reward_fn = ImitationReward(self.character, reward_weights, reward_scales)
        self.fall_mask = self.character.fall_contact_for_clip(self.clip.name)
        self._use_kernels()
        self.max_episode_return = self.time_limit * control_rate  # per-step reward <= 1
        self._allocate_state(K)

    def _use_kernels(self):
        """The compiled twins of action/reward/observation when built (mimic/envs/kernels.py)."""
        if kernels.available():
            self._compiled = kernels.CompiledImitation(self.reward_fn, self.observer, self.reference)
        else:
            self._compiled = None
        if kernels.available() and self.action_map.compilable:
            self._to_targets = kernels.CompiledActionMap(self.action_map).to_targets
        else:
            self._to_targets = self.action_map.to_targets

    def _allocate_state(self, K: int):
        """The per-character episode state and reference buffers, for K characters."""
        J = self.character.num_joints
        self.state_ext = np.zeros((K, J + 1, LINK_STATE_SIZE))  # link states + a "world" row per character
        self.ref = self.reference.batch(K)
        self._ref_one = self.reference.batch(1)
        # relative PD targets: the reference pose one control step ahead
        self._ref_next = self.reference.batch(K) if self.action_map.relative else None
        self._ref_now = self.reference.batch(K) if self.assist is not None else None  # the assistant's
        self.time = np.zeros(K)
        self.start = np.zeros(K)
        self.assist_strength = np.zeros(K)  # the assistant's strength, fixed per episode
        self.limit = np.full(K, self.time_limit)
        self.deadline = np.full(K, self.time_limit)  # start + limit, less a rounding margin
        self.cycle = np.zeros(K, dtype=np.int64)
        self.episodes = np.zeros(K, dtype=np.int64)  # episodes started per character
        self.root_offset = np.zeros((K, 3))  # reference root shift from cycle re-syncs
        self._root_shift = np.zeros((K, 3))  # root_offset + cycles * cycle drift
        self.ref_root = np.zeros((K, 3))  # reference root position in the world
        self.samples = 0  # control steps taken (training progress)
        self.worlds, self.sims = [], []

    # ------------------------------------------------------------------ worlds
    def ensure_worlds(self):
        if not self.worlds:
            from mimic.sim.character import SimCharacter
            from mimic.sim.world import World

            for k in range(self.num):
                world = World(timestep=1.0 / self.sim_rate)
                self.worlds.append(world)
                self.sims.append(SimCharacter(world, self.character, state_ext=self.state_ext[k]))

    def close(self):
        for w in self.worlds:
            w.close()
        self.worlds, self.sims = [], []

    def obs_norm(self):
        """(mean, std, fixed) initial observation normaliser; fixed entries never re-estimate."""
        parts = [self.observer.norm()] + ([self.targets.norm()] if self.targets.size else [])
        return tuple(np.concatenate(p) for p in zip(*parts))

    def episode_time_limit(self, k: int = 0) -> float:
        """The time limit of character k's episode starting now: the curriculum's limit for the
        training progress ``self.samples``, or ``short_episode_limit`` if that is shorter and this
        is one of the ``short_episodes`` fraction of k's training episodes."""
        limit = self._curriculum_limit()
        f, n = self.short_episodes, self.episodes[k]
        # evenly spread and seed-free: episode n is short when floor((n + 1) f) steps past floor(n f)
        if f > 0.0 and np.floor((n + 1) * f) > np.floor(n * f):
            return min(limit, self.short_episode_limit)
        return limit

    def _curriculum_limit(self) -> float:
        if self.mode == "test" or self.anneal_samples <= 0:
            return self.time_limit
        progress = min(1.0, self.samples / self.anneal_samples)
        if self.anneal_schedule == "step":
            return self.time_limit if progress >= 1.0 else self.initial_time_limit
        lam = progress**4
        return self.initial_time_limit + lam * (self.time_limit - self.initial_time_limit)

    def start_time(self, rng) -> float:
        if self.starts is not None:
            return self.starts.sample(rng)
        return float(rng.uniform(0.0, self.clip.duration)) if self.rsi else 0.0

    # ------------------------------------------------------------------ episodes
    def reset_one(self, k: int, t0: float):
        """Start character k's episode at clip time t0 on the reference; returns its obs."""
        one = self._ref_one
        self.time[k] = self.start[k] = t0
        self.limit[k] = self.episode_time_limit(k)
        self.episodes[k] += 1
        if self.assist is not None:
            self.assist_strength[k] = self.assist.strength(self.samples)
        self.deadline[k] = t0 + self.limit[k] - 1e-9
        self.root_offset[k] = 0.0
        self.cycle[k] = one.sample(self.time[k : k + 1])[0]
        self._root_shift[k] = self.cycle[k] * self.reference.cycle_delta
        self.ref_root[k] = one.root_pos[0] + self._root_shift[k]
        sim = self.sims[k]
        sim.set_state(
            self.ref_root[k],
            one.local_rot[0, 0],
            one.local_rot[0],
            one.hinge[0],
            one.root_lin_vel[0],
            one.local_ang_vel[0, 0],
            one.local_ang_vel[0],
        )
        S = sim.query()
        if not self.kinematic:
            low = lowest_point(self.character, S[:, JOINT_POS], S[:, JOINT_ROT])
            if low < 0.0:  # penetrating the ground: lift it clear, as DeepMimic's reset does
                sim.shift_root(0.001 - low)
        obs, _, _ = self._score(self.state_ext[k : k + 1], one, self.ref_root[k : k + 1])
        obs = self._with_targets(obs, slice(k, k + 1))
        if not np.isfinite(obs).all():  # a reset must never hand out NaN / inf
            raise ValueError(
                f"{self.clip.name}: the reset at clip time {t0:g} gives a non-finite "
                f"observation (column {int(np.argmin(np.isfinite(obs[0])))}); "
                f"the clip or the character file holds values the physics cannot take"
            )
        return obs[0]

    def _score(self, S_ext, ref, ref_root):
        """Observation [K, D] (float32), reward [K] and weighted reward terms [K, 5] of the
        characters whose link states (with the world row) are S_ext, against ref."""
        K = S_ext.shape[0]
        if self._compiled is not None:
            obs = np.empty((K, self.observer.quat_size), np.float32)
            terms = np.empty((K, len(REWARD_TERMS)))
            reward = np.empty(K)
            self._compiled(S_ext, ref, ref_root, obs, terms, reward)
            return self.observer.expand(obs), reward, terms
        rot_h, quat_h = np.zeros((K, 3, 3)), np.zeros((K, 4, 4))
        heading_frames(S_ext[:, 0, JOINT_ROT], rot_h, quat_h)
        reward, terms = self.reward_fn(S_ext, ref, ref_root, rot_h)
        return self.observer(S_ext[:, :-1], ref.phase, rot_h, quat_h), reward, terms

    def _with_targets(self, obs, rows):
        """obs [K, D] with the target frames of the characters ``rows`` appended (when enabled)."""
        if not self.targets.size:
            return obs
        root = self.state_ext[rows, 0]
        tar = self.targets(self.time[rows], self.root_offset[rows], root[:, JOINT_POS], root[:, JOINT_ROT])
        return np.concatenate([obs, tar], axis=1)

    def step(self, actions, active=None):
        """Advance all K characters one control step. Returns obs [K, D], reward [K],
        terminated [K], truncated [K] and a dict of per-character arrays.

        ``active`` (bool [K], optional): simulate only these characters; the others keep their
        state and clock, and their rows of the result are stale (callers mask them)."""
        moving = range(self.num) if active is None else np.flatnonzero(active).tolist()
        if not self.kinematic:
            self._actuate(actions, moving)
        if active is None:
            self.time += self.control_dt
        else:
            self.time[moving] += self.control_dt
        self.samples += len(moving)
        wrapped = self._advance_reference()
        self._observe_characters(active, moving)
        S_ext = self.state_ext
        if self.sync_root and not self.kinematic and wrapped.any():
            self._resync_roots(wrapped)
        # a non-finite value anywhere makes the sum non-finite
        unstable = ~np.isfinite(S_ext.sum(axis=(1, 2)))
        if unstable.any():
            S_ext[unstable] = np.nan_to_num(S_ext[unstable], nan=0.0, posinf=0.0, neginf=0.0)
        fallen = self._falls(active, moving, unstable)
        obs, reward, terms = self._score(S_ext, self.ref, self.ref_root)
        obs = self._with_targets(obs, slice(None))
        dead = fallen | unstable
        if dead.any():
            reward[dead] = 0.0
            terms[dead] = 0.0
        deviated = self._deviations(dead)
        failed = dead | deviated
        terminated, truncated, clip_end = self._episode_ends(failed)
        if self.starts is not None:
            self._record_starts(moving, terminated | truncated, failed)
        info = {
            "reward_terms": terms,
            "time": self.time.copy(),
            "phase": self.ref.phase.copy(),
            "fallen": fallen,
            "clip_end": clip_end,
            "sim_unstable": unstable,
            "deviated": deviated,
        }
        return obs, reward, terminated, truncated, info

    def _deviations(self, dead):
        """[K] which living characters drifted beyond the tracking termination's distance."""
        if self.tracking is None:
            return np.zeros(self.num, dtype=bool)
        return self.tracking(self.state_ext, self.ref, self.ref_root) & ~dead

    def _observe_characters(self, active, moving):
        """Refresh the link states of the ``moving`` characters (kinematic playback first puts
        them on the reference)."""
        sims, ref = self.sims, self.ref
        if self.kinematic:
            for k in moving:
                sims[k].set_state(
                    self.ref_root[k],
                    ref.local_rot[k, 0],
                    ref.local_rot[k],
                    ref.hinge[k],
                    ref.root_lin_vel[k],
                    ref.local_ang_vel[k, 0],
                    ref.local_ang_vel[k],
                )
        for k in range(self.num) if active is None else moving:
            sims[k].query()

    def _resync_roots(self, wrapped):
        """New cycle: snap the reference root x, z of the ``wrapped`` characters onto their
        simulated roots."""
        d = self.state_ext[wrapped, 0, JOINT_POS] - self.ref_root[wrapped]
        d[:, 1] = 0.0
        self.root_offset[wrapped] += d
        self._root_shift[wrapped] += d
        self.ref_root[wrapped] += d

    def _episode_ends(self, dead):
        """(terminated, truncated, clip_end) [K] from the deaths, the clip's end and the deadlines."""
        if self.clip.loop:
            clip_end = np.zeros(self.num, dtype=bool)
            terminated = dead
        else:
            clip_end = self.time >= self.clip.duration - 1e-9
            terminated = dead | clip_end
        truncated = self.time >= self.deadline
        truncated &= ~terminated
        return terminated, truncated, clip_end

    def _record_starts(self, moving, ended, dead):
        """Tell the adaptive start draw how the episodes that ended this step went."""
        for k in moving:
            if ended[k]:
                self.starts.record(self.start[k], bool(dead[k]))

    def _actuate(self, actions, moving):
        """Run the physics of the ``moving`` characters through one control step."""
        if self._ref_next is None:
            targets = self._to_targets(actions)
        else:  # relative targets: composed with the reference one control step ahead
            self._ref_next.sample(self.time + self.control_dt)
            targets = self._to_targets(actions, self._ref_next)
        sims, substeps = self.sims, self.substeps
        pushes = self._assist_pushes()
        for k in moving:
            sims[k].step_stable_pd(targets[k], substeps, pushes[k] if pushes else None)

    def _assist_pushes(self):
        """Per character, the assistant's (force, point) or None; None when nobody is assisted."""
        if self.assist is None or not self.assist_strength.any():
            return None
        self._ref_now.sample(self.time)  # self.ref's rows are stale just after a reset
        force, point = self.assist.force(self.state_ext[:, 0], self._ref_now, self.ref_root, self.assist_strength)
        return [(f, p) if a > 0 else None for f, p, a in zip(force, point, self.assist_strength)]

    def _advance_reference(self):
        """Sample the reference at the characters' clocks and place its root in the world;
        returns which characters entered a new cycle."""
        ref = self.ref
        cycles = ref.sample(self.time)
        wrapped = cycles != self.cycle
        if wrapped.any():
            self.cycle[:] = cycles
            self._root_shift[:] = self.root_offset + cycles[:, None] * self.reference.cycle_delta
        np.add(ref.root_pos, self._root_shift, out=self.ref_root)
        return wrapped

    def _falls(self, active, moving, unstable):
        """Which characters touch the ground with a fall-contact body (never an unstable one)."""
        K, sims = self.num, self.sims
        if not self.early_termination or self.kinematic:
            return np.zeros(K, dtype=bool)
        mask = self.fall_mask
        if active is None:
            return np.array([sim.touches_ground(mask) for sim in sims]) & ~unstable
        fallen = np.zeros(K, dtype=bool)
        for k in moving:
            fallen[k] = sims[k].touches_ground(mask) and not unstable[k]
        return fallen


def _substeps(sim_rate, control_rate) -> int:
    """Physics steps per control step; the rates must be positive and the ratio whole."""
    _check_positive(control_rate=control_rate, sim_rate=sim_rate)
    substeps = sim_rate / control_rate
    if abs(substeps - round(substeps)) > 1e-9 or substeps < 1:
        raise ValueError(f"sim_rate {sim_rate} must be a multiple of control_rate {control_rate}")
    return int(round(substeps))


def _tracking_termination(distance, character, mode, kinematic):
    """The tracking termination of a training task (None when off, in test mode or in playback)."""
    if distance == 0 and not isinstance(distance, bool):
        return None
    check = TrackingTermination(character, distance)  # refuses a bad distance in any mode
    return check if mode == "train" and not kinematic else None


def _check_episode_options(mode, start_sampling, anneal_samples, anneal_schedule, short_episodes):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if start_sampling not in START_SAMPLING:
        raise ValueError(f"start_sampling must be one of {START_SAMPLING}, not {start_sampling!r}")
    if not (isinstance(anneal_samples, (int, float)) and anneal_samples >= 0):
        raise ValueError(f"anneal_samples must be a number >= 0, not {anneal_samples!r}")
    if anneal_schedule not in ANNEAL_SCHEDULES:
        raise ValueError(f"anneal_schedule must be one of {ANNEAL_SCHEDULES}, not {anneal_schedule!r}")
    if isinstance(short_episodes, bool) or not isinstance(short_episodes, (int, float)) or not 0 <= short_episodes < 1:
        raise ValueError(f"short_episodes must be a fraction in [0, 1), not {short_episodes!r}")


def _check_positive(**values):
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive number, not {v!r}")


# the environment options and their defaults: ImitationTask's keyword arguments, read from its
# signature so that they are written once
_TASK_DEFAULTS = {name: p.default for name, p in inspect.signature(ImitationTask).parameters.items() if name != "num"}


class _TaskAttributes:
    """What trainers and viewers read from either environment (``env.get_wrapper_attr``)."""

    @property
    def character(self):
        return self.task.character

    @property
    def clip(self):
        return self.task.clip

    @property
    def reference(self):
        return self.task.reference

    @property
    def control_dt(self):
        return self.task.control_dt

    @property
    def kinematic(self):
        return self.task.kinematic

    @property
    def max_episode_return(self):
        return self.task.max_episode_return

    @property
    def reward_term_names(self):
        """Names of the columns of the per-term rewards (info["reward_terms"])."""
        return REWARD_TERMS

    @property
    def action_norm(self):
        """(mean, std) of DeepMimic's action normalisation: a = mean + std * a_normalised."""
        return self.task.action_map.mean, self.task.action_map.std

    @property
    def obs_norm(self):
        """(mean, std, fixed) initial observation normaliser; fixed entries never re-estimate."""
        return self.task.obs_norm()

    def _spaces(self):
        t = self.task
        obs = gym.spaces.Box(-np.inf, np.inf, (t.obs_size,), np.float32)
        act = gym.spaces.Box(
            t.action_map.low.astype(np.float32), t.action_map.high.astype(np.float32), dtype=np.float32
        )
        return obs, act


class ImitationEnv(_TaskAttributes, gym.Env):
    """``gymnasium.make("mimic/Humanoid-v0", motion=..., mode="train"|"test", kinematic=...)``.

    ``reset(options={"time": t})`` pins the start time, ``{"total_samples": n}`` sets the training
    progress used for episode-length annealing. ``kinematic=True`` makes the character follow the
    reference exactly (playback; reward checks).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode=None, render_width=640, render_height=480, **kwargs):
        unknown = set(kwargs) - set(_TASK_DEFAULTS)
        if unknown:
            raise TypeError(
                f"unknown environment options {sorted(unknown)} (known: {', '.join(sorted(_TASK_DEFAULTS))})"
            )
        self.task = ImitationTask(1, **kwargs)
        self.observation_space, self.action_space = self._spaces()
        self.render_mode = render_mode
        self.render_size = (int(render_width), int(render_height))
        self.metadata = dict(self.metadata, render_fps=self.task.control_rate)

    @property
    def world(self):
        return self.task.worlds[0] if self.task.worlds else None

    @property
    def sim(self):
        return self.task.sims[0] if self.task.sims else None

    @property
    def time(self):
        return float(self.task.time[0])

    @property
    def samples(self):
        return self.task.samples

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        task = self.task
        task.ensure_worlds()
        options = options or {}
        if "total_samples" in options:
            task.samples = int(options["total_samples"])
        t0 = float(options["time"]) if "time" in options else task.start_time(self.np_random)
        obs = task.reset_one(0, t0)
        return obs, {"time": t0, "phase": float(task.reference.phase(t0))}

    def step(self, action):
        a = np.asarray(action)
        if a.shape != self.action_space.shape:  # (2, 36) would silently step 2 characters
            raise ValueError(
                f"{self.task.clip.name}: action of shape {a.shape}; this env takes one "
                f"action of shape {self.action_space.shape} (for several: gym.make_vec)"
            )
        obs, reward, term, trunc, info = self.task.step(a)
        terms = info["reward_terms"][0].tolist()
        return (
            obs[0],
            float(reward[0]),
            bool(term[0]),
            bool(trunc[0]),
            {
                "reward_terms": dict(zip(REWARD_TERMS, terms)),
                "time": float(info["time"][0]),
                "phase": float(info["phase"][0]),
                "fallen": bool(info["fallen"][0]),
                "clip_end": bool(info["clip_end"][0]),
                "deviated": bool(info["deviated"][0]),
                "sim_unstable": bool(info["sim_unstable"][0]),
            },
        )

    def reference_state(self):
        """The current reference: (root position in the world, local rotations [J, 4] xyzw,
        hinge angles [J]) -- what a viewer draws as the ghost."""
        t = self.task
        one = t._ref_one
        one.sample(t.time[:1])
        return t.ref_root[0].copy(), one.local_rot[0].copy(), one.hinge[0].copy()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from mimic.sim.camera import render_rgb

        self.task.ensure_worlds()
        return render_rgb(self.world, self.sim, *self.render_size)

    def close(self):
        self.task.close()


class ImitationVectorEnv(_TaskAttributes, gym.vector.VectorEnv):
    """``gymnasium.make_vec("mimic/Humanoid-v0", num_envs=N, vectorization_mode=
    "vector_entry_point", motion=...)``: N characters in one process.

    ``autoreset_mode=AutoresetMode.SAME_STEP`` (default): an ended episode restarts on the same
    step; its last observation is in ``infos["final_obs"]`` where ``infos["_final_obs"]`` is set.
    ``autoreset_mode=AutoresetMode.DISABLED`` (or "Disabled"): the caller restarts ended episodes
    itself with
    ``reset(seed=[...], options={"reset_mask": mask})`` (per-episode seeds, as samplers that must
    reproduce a run whatever their worker layout do).  Until then an ended (or never reset)
    character is not simulated: stepping leaves it as it is and reports its row as its last
    observation with zero reward and no end flags.  (A sampler finishing a batch has ended
    episodes waiting next to running ones; simulating them would be wasted work.)
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs=1, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs):
        unknown = set(kwargs) - set(_TASK_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown environment options {sorted(unknown)}")
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.DISABLED):
            raise ValueError(f"autoreset_mode {mode} is not supported (SameStep or Disabled)")
        self.metadata = dict(self.metadata, autoreset_mode=mode)
        self.task = ImitationTask(num_envs, **kwargs)
        self.num_envs = int(num_envs)
        self.single_observation_space, self.single_action_space = self._spaces()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence().spawn(self.num_envs)]
        self._obs = np.zeros((self.num_envs, self.task.obs_size), np.float32)
        self._idle = np.ones(self.num_envs, bool)  # DISABLED mode: ended / never reset

    def reset(self, *, seed=None, options=None):
        """Reset all characters, or those in ``options["reset_mask"]``. ``seed`` is an int
        (character i gets seed + i) or a list with one seed (or None) per character."""
        task = self.task
        task.ensure_worlds()
        options = options or {}
        mask = np.asarray(options.get("reset_mask", np.ones(self.num_envs, bool)), bool)
        if seed is not None:
            seeds = (
                list(seed) if isinstance(seed, (list, tuple, np.ndarray)) else [seed + i for i in range(self.num_envs)]
            )
            for i in np.flatnonzero(mask):
                if seeds[i] is not None:
                    self._rngs[i] = np.random.default_rng(int(seeds[i]))
        if "total_samples" in options:
            task.samples = int(options["total_samples"])
        for k in np.flatnonzero(mask):
            t0 = float(options["time"]) if "time" in options else task.start_time(self._rngs[k])
            self._obs[k] = task.reset_one(k, t0)
        self._idle[mask] = False
        return self._obs.copy(), {}

    def step(self, actions):
        task = self.task
        if np.shape(actions) != self.action_space.shape:
            raise ValueError(
                f"{task.clip.name}: actions of shape {np.shape(actions)}; this vector env "
                f"takes shape {self.action_space.shape} (one row per character)"
            )
        disabled = self.metadata["autoreset_mode"] == AutoresetMode.DISABLED
        idle = self._idle if disabled and self._idle.any() else None
        obs, reward, term, trunc, info = task.step(actions, None if idle is None else ~idle)
        infos = {
            "reward_terms": info["reward_terms"],
            "fallen": info["fallen"],
            "clip_end": info["clip_end"],
            "deviated": info["deviated"],
            "sim_unstable": info["sim_unstable"],
            "time": info["time"],
            "phase": info["phase"],
        }
        if idle is not None:  # not simulated: last observation, no reward, no end
            obs[idle] = self._obs[idle]
            reward[idle] = 0.0
            infos["reward_terms"][idle] = 0.0
            for a in (term, trunc, infos["fallen"], infos["clip_end"], infos["deviated"], infos["sim_unstable"]):
                a[idle] = False
        done = term | trunc
        if disabled:
            self._idle |= done
        if done.any() and self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            final = np.empty(self.num_envs, dtype=object)
            for k in np.flatnonzero(done):
                final[k] = obs[k].copy()
                obs[k] = task.reset_one(k, task.start_time(self._rngs[k]))
            infos["final_obs"] = final
            infos["_final_obs"] = done.copy()
        self._obs[:] = obs
        return obs, reward, term, trunc, infos

    def close_extras(self, **kwargs):
        self.task.close()
