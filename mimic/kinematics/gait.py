"""A quadruped gait generator: footfall schedule -> root path and paw targets for the dog's IK.

No package registry carries a dog canter capture, so the canter is generated. A gait is one
looping cycle described by named parameters (:class:`GaitParams`):

* ``phases``: when each leg's stance starts, as a fraction of the cycle, legs in the order left
  front, right front, left hind, right hind. The canter (right lead) is three-beat: the left
  hind lands (beat 1), then the right hind with the left fore (beat 2, the diagonal pair), then
  the right fore, the leading leg (beat 3), followed by a suspension with no paw down. The trot
  pairs the diagonals half a cycle apart, the pace the lateral pairs, the walk steps each leg a
  quarter cycle after the other (left hind, left fore, right hind, right fore);
* ``duty``: the fraction of the cycle each paw is on the ground;
* ``speed`` (m/s) and ``cycle_time`` (s): the stride length is speed x cycle_time;
* ``swing_height``: the peak height of a paw's sole above the ground in swing (a sine arch);
* ``pitch``: the amplitude of the body's nose-up/nose-down rocking (radians), nose up while the
  hind legs carry more of the body than the fore legs (a smoothed count of paws down);
* ``bounce``: the amplitude of the root's vertical motion (m), highest where the fewest paws are
  down (the canter's suspension), lowest where most are;
* ``height``: the mean root height; by default the highest root that lets a paw reach from its
  hip to both ends of its stance with the shorter (fore) legs at 90% of their length (a stance
  longer than that leg allows, from too high a speed x cycle_time x duty, is refused);
* ``stance_offset``: where a stance is centred, ahead of (+) or behind (-) the hip (m).

Each paw's sole stays at one ground position during a stance (centred under its hip at
mid-stance, so the body passes over it), swings to the next with an eased horizontal motion and
the sine arch, and the root moves forward at ``speed``. The result is a
:class:`mimic.kinematics.quadruped.PawMotion`, solved onto the dog by
:func:`mimic.kinematics.quadruped.solve_dog` exactly like the captured clips.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from mimic.kinematics.character import Character
from mimic.kinematics.quadruped import PawMotion, body_pose, dog_leg_lengths, hip_positions

# gait -> (stance start phases LF, RF, LH, RH; duty; cycle time s; pitch rad; bounce m)
GAITS = {
    "canter": ((0.25, 0.50, 0.00, 0.25), 0.33, 0.45, 0.10, 0.03),
    "trot": ((0.00, 0.50, 0.50, 0.00), 0.45, 0.50, 0.02, 0.015),
    "pace": ((0.00, 0.50, 0.00, 0.50), 0.50, 0.55, 0.02, 0.015),
    "walk": ((0.25, 0.75, 0.00, 0.50), 0.65, 0.90, 0.01, 0.010),
}
DEFAULT_SPEED = {"canter": 3.0, "trot": 2.0, "pace": 1.6, "walk": 0.8}
REACH = 0.9  # the fraction of the shorter legs' length a paw may be from its hip


class GaitError(ValueError):
    """A gait parameter outside its range; the message names the parameter."""


# name -> (low, high) of every numeric parameter (inclusive)
RANGES = {
    "speed": (0.0, 6.0),
    "cycle_time": (0.2, 2.0),
    "duty": (0.1, 0.9),
    "swing_height": (0.0, 0.25),
    "pitch": (-0.4, 0.4),
    "bounce": (0.0, 0.1),
    "height": (0.2, 0.8),
    "stance_offset": (-0.2, 0.2),
    "fps": (10.0, 240.0),
}


@dataclass(frozen=True)
class GaitParams:
    gait: str = "canter"
    speed: float = 3.0
    phases: tuple = GAITS["canter"][0]
    duty: float = GAITS["canter"][1]
    cycle_time: float = GAITS["canter"][2]
    swing_height: float = 0.09
    pitch: float = GAITS["canter"][3]
    bounce: float = GAITS["canter"][4]
    height: float | None = None
    stance_offset: float = 0.0
    fps: float = 60.0

    @classmethod
    def for_gait(cls, gait: str, **overrides) -> "GaitParams":
        """The named gait's defaults, with any parameter overridden (None keeps the default)."""
        if gait not in GAITS:
            raise GaitError(f"gait: unknown gait '{gait}' (known: {', '.join(GAITS)})")
        phases, duty, cycle, pitch, bounce = GAITS[gait]
        p = cls(
            gait=gait, speed=DEFAULT_SPEED[gait], phases=phases, duty=duty, cycle_time=cycle, pitch=pitch, bounce=bounce
        )
        known = {f.name for f in fields(cls)}
        for k in overrides:
            if k not in known:
                raise GaitError(f"gait: unknown parameter '{k}' (known: {', '.join(sorted(known))})")
        p = replace(p, **{k: v for k, v in overrides.items() if v is not None})
        p.validate()
        return p

    def validate(self):
        for name, (lo, hi) in RANGES.items():
            v = getattr(self, name)
            if v is None:
                continue
            if not np.isfinite(v) or not lo <= v <= hi:
                raise GaitError(f"gait parameter {name} = {v} is out of range [{lo}, {hi}]")
        if len(self.phases) != 4 or not all(0.0 <= p < 1.0 for p in self.phases):
            raise GaitError(
                f"gait parameter phases = {self.phases} must be 4 fractions in "
                f"[0, 1) (left front, right front, left hind, right hind)"
            )


def stance_mask(params: GaitParams, phase) -> np.ndarray:
    """[N, 4] whether each paw is down at cycle phases ``phase`` [N]."""
    leg_phase = np.mod(np.asarray(phase)[:, None] - np.asarray(params.phases), 1.0)
    return leg_phase < params.duty


def _smoothed(signal, width):
    """Circular moving average of a per-phase signal [N] over ``width`` samples."""
    k = max(1, int(width))
    kernel = np.ones(k) / k
    ext = np.concatenate([signal[-k:], signal, signal[:k]])
    return np.convolve(ext, kernel, mode="same")[k:-k]


def _unit(signal):
    s = signal - signal.mean()
    peak = np.abs(s).max()
    return s / peak if peak > 1e-9 else s


def generate(ch: Character, params: GaitParams) -> PawMotion:
    """One cycle of the gait (plus the closing frame) for the dog ``ch``."""
    params.validate()
    n = max(4, int(round(params.cycle_time * params.fps)))
    dt = params.cycle_time / n
    phase = np.arange(n + 1) / n
    down = stance_mask(params, phase[:-1])
    fore, hind = down[:, :2].sum(1).astype(float), down[:, 2:].sum(1).astype(float)
    width = 0.25 * n
    pitch = params.pitch * _unit(_smoothed(hind - fore, width))
    lift = -_unit(_smoothed(fore + hind, width))  # +1 where fewest paws are down
    stride = params.speed * params.cycle_time
    sweep = params.duty * stride  # paw travel under the hip per stance
    leg = dog_leg_lengths(ch).min()
    height = params.height
    zero_root = np.zeros((1, 3))
    rest = body_pose(ch, np.array([[0.0, 0.0, 0.0, 1.0]]))
    hips0 = hip_positions(ch, zero_root, rest)[0]  # hips relative to the root, level body
    half = 0.5 * sweep + abs(params.stance_offset)  # farthest a paw gets ahead / behind
    if half > 0.8 * REACH * leg:
        raise GaitError(
            f"gait: speed {params.speed:g} m/s x cycle_time {params.cycle_time:g} s x duty "
            f"{params.duty:g} moves a paw {half:.2f} m from its hip in a stance, more than the "
            f"dog's fore legs reach ({0.8 * REACH * leg:.2f} m): lower speed, cycle_time or duty"
        )
    if height is None:
        reach = np.sqrt((REACH * leg) ** 2 - half**2)
        height = float(reach - hips0[:, 1].mean() - params.bounce)
    root = np.zeros((n + 1, 3))
    root[:, 0] = params.speed * phase * params.cycle_time
    root[:, 1] = height + params.bounce * np.append(lift, lift[:1])
    z = np.zeros(n + 1)
    pitch = np.append(pitch, pitch[:1])
    root_rot = np.stack([z, z, np.sin(0.5 * pitch), np.cos(0.5 * pitch)], axis=1)
    paws = np.zeros((n + 1, 4, 3))
    for i, start in enumerate(params.phases):
        paws[:, i] = _paw_path(phase, start, params, hips0[i], stride)
    contacts = np.concatenate([down, down[:1]])
    return PawMotion(dt=dt, root_pos=root, root_rot=root_rot, paws=paws, contacts=contacts)


def _paw_path(phase, start, p: GaitParams, hip, stride):
    """Sole positions [N, 3] of one paw over the cycle: planted in stance, arched in swing."""
    t = phase - start  # cycles since this leg's first touchdown
    k = np.floor(t)  # which stance (…, -1, 0, 1, …)
    u = t - k  # leg phase in [0, 1)
    # stance k is centred on the hip's position at its mid-stance
    centre = lambda kk: hip[0] + p.stance_offset + stride * (start + kk + 0.5 * p.duty)  # noqa: E731
    x = np.where(u < p.duty, centre(k), 0.0)
    s = np.clip((u - p.duty) / max(1.0 - p.duty, 1e-9), 0.0, 1.0)
    ease = s * s * (3.0 - 2.0 * s)
    x = np.where(u < p.duty, x, (1 - ease) * centre(k) + ease * centre(k + 1))
    y = np.where(u < p.duty, 0.0, p.swing_height * np.sin(np.pi * s))
    return np.stack([x, y, np.full_like(x, hip[2])], axis=1)
