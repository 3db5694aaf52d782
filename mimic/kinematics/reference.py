"""Reference motion precomputed per clip, for a cheap lookup at every control step.

Everything the imitation reward, reference-state initialisation and kinematic playback need from
the reference -- pose, joint velocities, end-effector positions in the heading frame and
centre-of-mass velocity, computed with DeepMimic's semantics (slerped poses, lerped
forward-difference velocities, forward kinematics of the interpolated pose) -- is evaluated once,
on a fine uniform time grid over one cycle (600 Hz by default), and stored as one flat float row per
grid point. At run time a lookup is one linear blend of two rows plus a quaternion renormalise,
a handful of numpy calls, instead of a forward-kinematics pass per step. Blending on a 1/600 s grid
is within ~1e-6 rad of the exact rotations and ~2e-4 m of the exact end-effector positions for the
fastest limbs (millimetres only in the rare poses where the root's forward axis is near vertical
and the heading turns fast); velocities are exact (tests/test_reference.py).

The grid splits every clip frame interval into the same number k of equal pieces (k chosen so a
piece is at most 1/rate long). Every clip frame time is then a grid point, so the velocities,
which DeepMimic lerps between frames, are reproduced exactly even for clips with uneven dt.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from mimic import compiled
from mimic.kinematics import rotations as R
from mimic.kinematics.character import REVOLUTE
from mimic.kinematics.clip import ClipError, MotionClip
from mimic.kinematics.fk import forward_kinematics

try:  # the lookup below in one compiled call (mimic/kinematics/_reference.c)
    if not compiled.wanted():
        raise ImportError(f"{compiled.SWITCH} is set")
    from mimic.kinematics._reference import sample as _compiled_sample
except ImportError:  # not built: the numpy code of ReferenceBatch.sample does the same
    _compiled_sample = None


class ReferenceMotion:
    """Fine-grid table of a clip's reference state; ``sample(t)`` fills the named views."""

    def __init__(self, clip: MotionClip, rate: float = 600.0):
        self.clip = clip
        ch = clip.character
        self.duration = clip.duration
        self.loop = clip.loop
        self.cycle_delta = clip.cycle_delta
        nf = clip.num_frames
        self.k = k = max(1, int(math.ceil(clip.dts[:-1].max() * rate - 1e-9)))
        self.frame_times = clip.frame_times.tolist()
        self.dts = clip.dts.tolist()
        pieces = np.arange(k) / k
        times = (clip.frame_times[:-1, None] + clip.dts[:-1, None] * pieces).ravel()
        times = np.concatenate([times, [self.duration]])
        n = len(times)
        # evaluate each grid point inside its own frame interval (the last one at the end)
        seg = np.minimum(np.arange(n) // k, nf - 2)
        root_pos, local_rot, lin, ang, hinge = _evaluate_in_segments(clip, times, seg)

        fk = forward_kinematics(ch, root_pos, local_rot, lin, ang)
        # end effectors: joint positions relative to the root, heading removed, y = height
        rel = fk["joint_pos"][:, ch.end_effectors] - root_pos[:, None]
        rel[..., 1] = fk["joint_pos"][:, ch.end_effectors, 1]
        qh = R.heading_removal_quat(local_rot[:, 0])
        ee = R.quat_rotate(qh[:, None], rel)
        # keep consecutive grid quaternions on one hemisphere so that blends take the short way
        for k in range(1, n):
            flip = np.sum(local_rot[k] * local_rot[k - 1], axis=-1) < 0
            local_rot[k, flip] *= -1

        parts = [
            ("root_pos", root_pos),
            ("local_rot", local_rot),
            ("local_ang_vel", ang),
            ("root_lin_vel", lin),
            ("ee_rel", ee),
            ("com_vel", fk["char_com_vel"]),
            ("hinge", hinge),
        ]
        self.rows = np.concatenate([a.reshape(n, -1) for _, a in parts], axis=1)
        for name, a in parts:  # a table with NaN / inf would poison every reward
            if not np.isfinite(a).all():
                raise ClipError(
                    f"{clip.path or clip.name}: its reference table {name!r} is not "
                    f"finite (extreme values or frame times in the clip)"
                )
        self.layout = [(name, a.shape[1:]) for name, a in parts]
        self.buf = np.empty(self.rows.shape[1])
        # named views into the sample buffer (no allocation per lookup)
        o = 0
        for name, a in parts:
            size = int(np.prod(a.shape[1:]))
            setattr(self, name, self.buf[o : o + size].reshape(a.shape[1:]))
            o += size
        self.num_rows = n
        self._frame_times = np.ascontiguousarray(clip.frame_times, dtype=np.float64)
        self._dts = np.ascontiguousarray(clip.dts, dtype=np.float64)
        names = [name for name, _ in self.layout]
        self._rot_offset = sum(int(np.prod(shape)) for _, shape in self.layout[: names.index("local_rot")])
        self._num_rot = local_rot.shape[1]

    def cycles(self, t: float) -> int:
        return int(t // self.duration) if self.loop else 0

    def phase(self, t: float) -> float:
        if self.loop:
            return (t / self.duration) % 1.0
        return min(max(t / self.duration, 0.0), 1.0)

    def sample(self, t: float):
        """Fill ``root_pos`` (no cycle drift), ``local_rot``, ``local_ang_vel``, ``root_lin_vel``,
        ``ee_rel``, ``com_vel`` and ``hinge`` for time t; returns the completed cycles."""
        return self.fill(t, self.buf, self.local_rot, self.local_ang_vel, self.root_lin_vel, self.com_vel)

    def fill(self, t, buf, local_rot, local_ang_vel, root_lin_vel, com_vel) -> int:
        """Write the sample for time t into buf (views given for the post-processing)."""
        T = self.duration
        if self.loop:
            c = int(t // T)
            tc = t - c * T
        else:
            c = 0
            tc = min(max(t, 0.0), T)
        f = min(max(bisect.bisect_right(self.frame_times, tc) - 1, 0), len(self.dts) - 2)
        g = (tc - self.frame_times[f]) / self.dts[f] * self.k
        s = min(int(g), self.k - 1)
        b = g - s
        i = f * self.k + s
        r0 = self.rows[i]
        np.subtract(self.rows[i + 1], r0, out=buf)
        buf *= b
        buf += r0
        local_rot /= np.sqrt(np.einsum("ij,ij->i", local_rot, local_rot))[:, None]
        if not self.loop and t >= T:  # past the end: hold the last pose, at rest
            local_ang_vel[:] = 0.0
            root_lin_vel[:] = 0.0
            com_vel[:] = 0.0
        return c

    def batch(self, size: int) -> "ReferenceBatch":
        """A buffer for sampling ``size`` times at once (one per environment of a batch)."""
        return ReferenceBatch(self, size)


class ReferenceBatch:
    """Reference samples for a batch of times; the named views have a leading batch axis."""

    def __init__(self, motion: ReferenceMotion, size: int):
        self.motion = motion
        self.buf = np.empty((size, motion.rows.shape[1]))
        o = 0
        for name, shape in motion.layout:
            n = int(np.prod(shape))
            setattr(self, name, self.buf[:, o : o + n].reshape((size,) + tuple(shape)))
            o += n
        self.cycles = np.zeros(size, dtype=np.int64)
        self.phase = np.zeros(size)

    def sample(self, times):
        """Fill the views for ``times`` [size]; sets and returns ``cycles``."""
        m = self.motion
        if _compiled_sample is not None:
            _compiled_sample(
                m.rows,
                m._frame_times,
                m._dts,
                m.k,
                m.duration,
                m.loop,
                m._rot_offset,
                m._num_rot,
                np.ascontiguousarray(times, dtype=np.float64),
                self.buf,
                self.cycles,
                self.phase,
            )
            if not m.loop:
                self._hold_past_end(times)
            return self.cycles
        if len(self.buf) <= 2:  # a Python loop of scalar lookups is cheaper for 1-2 samples
            for k in range(len(self.buf)):
                t = float(times[k])
                self.cycles[k] = m.fill(
                    t, self.buf[k], self.local_rot[k], self.local_ang_vel[k], self.root_lin_vel[k], self.com_vel[k]
                )
                self.phase[k] = m.phase(t)
            return self.cycles
        T = m.duration
        if m.loop:
            np.floor_divide(times, T, out=self.phase)
            self.cycles[:] = self.phase
            tc = times - self.cycles * T
        else:
            self.cycles[:] = 0
            tc = np.clip(times, 0.0, T)
        np.divide(tc, T, out=self.phase)
        f = np.clip(np.searchsorted(m._frame_times, tc, side="right") - 1, 0, len(m._dts) - 2)
        g = (tc - m._frame_times[f]) / m._dts[f] * m.k
        s = np.minimum(g.astype(np.int64), m.k - 1)
        b = (g - s)[:, None]
        i = f * m.k + s
        r0 = m.rows[i]
        np.subtract(m.rows[i + 1], r0, out=self.buf)
        self.buf *= b
        self.buf += r0
        q = self.local_rot
        q /= np.sqrt(np.einsum("kji,kji->kj", q, q))[..., None]
        if not m.loop:
            np.minimum(self.phase, 1.0, out=self.phase)
            self._hold_past_end(times)
        return self.cycles

    def _hold_past_end(self, times):
        past = np.asarray(times) >= self.motion.duration
        if past.any():  # past the end of a non-looping clip: hold the last pose, at rest
            self.local_ang_vel[past] = 0.0
            self.root_lin_vel[past] = 0.0
            self.com_vel[past] = 0.0


def _evaluate_in_segments(clip: MotionClip, times, seg):
    """Clip pose and velocity at ``times``, each forced into frame interval ``seg``.

    Like MotionClip.pose_at / velocity_at, but a time on a frame boundary is evaluated at the end
    of the interval it closes, so each grid piece blends two points of one interval.
    """
    b = np.clip((times - clip.frame_times[seg]) / clip.dts[seg], 0.0, 1.0)
    root = (1 - b)[:, None] * clip.root_pos[seg] + b[:, None] * clip.root_pos[seg + 1]
    rot = R.quat_slerp(clip.local_rot[seg], clip.local_rot[seg + 1], b[:, None])
    hinge = (1 - b)[:, None] * clip.hinge_angle[seg] + b[:, None] * clip.hinge_angle[seg + 1]
    hj = clip.character.joint_types == REVOLUTE
    half = 0.5 * hinge[:, hj]
    rot[:, hj] = np.stack([np.zeros_like(half), np.zeros_like(half), np.sin(half), np.cos(half)], axis=-1)
    lin = (1 - b)[:, None] * clip.root_lin_vel[seg] + b[:, None] * clip.root_lin_vel[seg + 1]
    ang = (1 - b)[:, None, None] * clip.local_ang_vel[seg] + b[:, None, None] * clip.local_ang_vel[seg + 1]
    return root, rot, lin, ang, hinge
