"""DeepMimic-style motion imitation as a Gymnasium environment.

One episode: reference-state initialisation at a time drawn uniformly over the clip, then a policy
at 30 Hz driving stable-PD targets with physics at 240 Hz (8 steps per action, the PD command
re-issued before every step). The reward is DeepMimic's five-term imitation reward (see
mimic.envs.reward); the observation its DM-2019 state (mimic.envs.observation); the action its
axis-angle PD targets (mimic.envs.action).

Episode ends:
* ``terminated`` with ``info["fallen"]``: a fall-contact body touched the ground (reward 0 that step);
* ``terminated`` with ``info["clip_end"]``: a non-looping clip reached its end;
* ``terminated`` with ``info["sim_unstable"]``: the physics produced non-finite values;
* ``truncated``: the time limit (20 s in test mode; annealed from 0.5 s to 20 s over the first
  ``anneal_samples`` training samples as (samples / anneal_samples)^4, as DeepMimic does).

Looping clips: the reference root advances by the clip's per-cycle drift (vertical part dropped),
and at each cycle wrap the reference root x, z is re-synced to the simulated root (C++
SyncKinCharNewCycle), so root error never accumulates over cycles. Heading is not accumulated.
"""
from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np

from mimic.envs.action import ActionMap
from mimic.envs.observation import ObservationBuilder
from mimic.envs.reward import REWARD_TERMS, ImitationReward
from mimic.kinematics.character import load_character
from mimic.kinematics.clip import load_clip
from mimic.kinematics.fk import lowest_point
from mimic.kinematics.reference import ReferenceMotion
from mimic.kinematics.rotations import heading_frame
from mimic.paths import resolve_motion

MODES = ('train', 'test')


def character_for_motion(motion_path: Path) -> str:
    """The character a clip belongs to, from its name (DeepMimic names clips <character>_...)."""
    return 'dog' if Path(motion_path).stem.startswith('dog') else 'humanoid'


class ImitationEnv(gym.Env):
    metadata = {'render_modes': ['rgb_array'], 'render_fps': 30}

    def __init__(self, motion='humanoid3d_walk', character=None, mode='train',
                 kinematic=False, time_limit=20.0, initial_time_limit=0.5,
                 anneal_samples=32e6, control_rate=30.0, sim_rate=240.0, rsi=True,
                 early_termination=True, sync_root=True, reward_weights=None,
                 reward_scales=None, render_mode=None, render_width=640, render_height=480):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        motion_path = resolve_motion(motion)
        self.character = load_character(character or character_for_motion(motion_path))
        self.clip = load_clip(motion_path, self.character)
        self.motion_path = motion_path
        self.mode = mode
        self.kinematic = bool(kinematic)
        self.time_limit = float(time_limit)
        self.initial_time_limit = float(initial_time_limit)
        self.anneal_samples = float(anneal_samples)
        self.rsi = bool(rsi)
        self.early_termination = bool(early_termination)
        self.sync_root = bool(sync_root)
        self.control_dt = 1.0 / control_rate
        substeps = sim_rate / control_rate
        if abs(substeps - round(substeps)) > 1e-9:
            raise ValueError(f'sim_rate {sim_rate} must be a multiple of control_rate '
                             f'{control_rate}')
        self.substeps = int(round(substeps))
        self.sim_rate = float(sim_rate)
        self.render_mode = render_mode
        self.render_size = (int(render_width), int(render_height))

        self.reference = ReferenceMotion(self.clip)
        self.action_map = ActionMap(self.character)
        self.observer = ObservationBuilder(self.character)
        self.reward_fn = ImitationReward(self.character, reward_weights, reward_scales)
        self.fall_mask = self.character.fall_contact_for_clip(self.clip.name)

        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.observer.size,),
                                                np.float32)
        self.action_space = gym.spaces.Box(self.action_map.low.astype(np.float32),
                                           self.action_map.high.astype(np.float32),
                                           dtype=np.float32)
        # read by trainers through env.get_wrapper_attr(...)
        self.action_norm = (self.action_map.mean, self.action_map.std)
        self.obs_norm = self.observer.norm()
        self.max_episode_return = self.time_limit * control_rate  # per-step reward <= 1

        self.world = None
        self.sim = None
        self.samples = 0          # control steps taken (training progress for annealing)
        self.time = 0.0
        self.episode_limit = self.time_limit
        self._root_offset = np.zeros(3)   # reference root shift from cycle re-syncs
        self._cycle = 0
        self._ref_root = np.zeros(3)
        self._renderer = None

    # ------------------------------------------------------------------ set-up
    def _ensure_world(self):
        if self.world is None:
            from mimic.sim.character import SimCharacter
            from mimic.sim.world import World
            self.world = World(timestep=1.0 / self.sim_rate)
            self.sim = SimCharacter(self.world, self.character)

    def episode_time_limit(self) -> float:
        if self.mode == 'test':
            return self.time_limit
        lam = min(1.0, self.samples / self.anneal_samples) ** 4 if self.anneal_samples > 0 else 1.0
        return self.initial_time_limit + lam * (self.time_limit - self.initial_time_limit)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._ensure_world()
        options = options or {}
        if 'total_samples' in options:
            self.samples = int(options['total_samples'])
        if 'time' in options:
            t0 = float(options['time'])
        elif self.rsi:
            t0 = float(self.np_random.uniform(0.0, self.clip.duration))
        else:
            t0 = 0.0
        self.time = t0
        self.episode_start = t0
        self.episode_limit = self.episode_time_limit()
        self._root_offset[:] = 0.0
        self._cycle = self.reference.sample(t0)
        self._update_ref_root()
        self._place_at_reference()
        S = self.sim.query()
        if not self.kinematic:
            lowest = lowest_point(self.character, S[:, 14:17], S[:, 17:21])
            if lowest < 0.0:  # penetrating the ground: lift it clear, as DeepMimic's reset does
                self.sim.shift_root(0.001 - lowest)
        R_h, H = heading_frame(S[0, 17:21])
        obs = self.observer(S, self.reference.phase(self.time), R_h, H)
        return obs, {'time': self.time, 'phase': self.reference.phase(self.time)}

    def step(self, action):
        sim, world = self.sim, self.world
        if not self.kinematic:
            targets = self.action_map.to_targets(action)
            for _ in range(self.substeps):
                sim.apply_stable_pd(targets)
                world.step()
        self.time += self.control_dt
        self.samples += 1
        ref = self.reference
        cycle = ref.sample(self.time)
        self._update_ref_root(cycle)
        if self.kinematic:
            self._place_at_reference()
        S = sim.query()
        if cycle != self._cycle:
            self._cycle = cycle
            if self.sync_root and not self.kinematic:
                # new cycle: snap the reference root x, z onto the simulated root
                self._root_offset[0] += S[0, 14] - self._ref_root[0]
                self._root_offset[2] += S[0, 16] - self._ref_root[2]
                self._update_ref_root(cycle)

        unstable = not np.isfinite(S).all()
        fallen = (not unstable and not self.kinematic and self.early_termination
                  and sim.touches_ground(self.fall_mask))
        clip_end = (not self.clip.loop) and self.time >= self.clip.duration
        if unstable:
            S = np.nan_to_num(S, nan=0.0, posinf=0.0, neginf=0.0)
        R_h, H = heading_frame(S[0, 17:21])
        phase = ref.phase(self.time)
        if fallen or unstable:
            reward, terms = 0.0, (0.0,) * len(REWARD_TERMS)
        else:
            reward, terms = self.reward_fn(sim.state_ext, ref, self._ref_root, R_h)
        obs = self.observer(S, phase, R_h, H)
        terminated = fallen or clip_end or unstable
        truncated = (not terminated) and (self.time - self.episode_start
                                          >= self.episode_limit - 1e-9)
        info = {'reward_terms': dict(zip(REWARD_TERMS, terms)), 'time': self.time,
                'phase': phase, 'fallen': fallen, 'clip_end': clip_end,
                'sim_unstable': unstable}
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------------ helpers
    def _update_ref_root(self, cycle=None):
        ref = self.reference
        c = self._cycle if cycle is None else cycle
        np.add(ref.root_pos, self._root_offset, out=self._ref_root)
        if c:
            self._ref_root += c * ref.cycle_delta

    def _place_at_reference(self):
        """Put the simulated character exactly on the current reference state."""
        ref = self.reference
        self.sim.set_state(self._ref_root, ref.local_rot[0], ref.local_rot, ref.hinge,
                           ref.root_lin_vel, ref.local_ang_vel[0], ref.local_ang_vel)

    def reference_state(self):
        """The current reference: (root position in the world, local rotations [J, 4] xyzw,
        hinge angles [J]) -- what a viewer draws as the ghost."""
        ref = self.reference
        return self._ref_root.copy(), ref.local_rot.copy(), ref.hinge.copy()

    def render(self):
        if self.render_mode != 'rgb_array':
            return None
        from mimic.sim.camera import render_rgb
        self._ensure_world()
        return render_rgb(self.world, self.sim, *self.render_size)

    def close(self):
        if self.world is not None:
            self.world.close()
            self.world = None
            self.sim = None
