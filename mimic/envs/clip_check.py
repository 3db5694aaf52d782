"""Clip quality: the figures that say whether a clip is usable for imitation, for any character.

:func:`check_clip` measures a loaded :class:`~mimic.kinematics.clip.MotionClip` at its frames:

* frames, duration and loop mode;
* the largest hinge-limit violation (the URDF's revolute limits; ball-joint ``limits`` in the
  YAML are action bounds, not joint limits, and are not checked);
* the lowest point of any collision shape (below 0 = penetration), with body and frame;
* the root-height range;
* foot contact, per foot of the character's YAML ``feet`` list: a foot is down while the bottom of
  its collision shapes is below ``CONTACT_HEIGHT`` and its body centre moves horizontally slower
  than ``SWING_SPEED`` (a foot skimming the ground in swing is not down); each down phase (a
  *stance*, wrapped around the cycle for looping clips) reports its sliding, the horizontal path
  length of the foot body's centre (heel-off rolling adds a few cm), summed up per foot and over
  all feet as the mean and the largest sliding per stance (``ClipReport.sliding``, in cm), and
  the footfall table lists which foot is down when;
* the largest frame-to-frame jump, as a joint rotation angle (root: world rotation) and as a
  joint position distance, with frame and joint;
* for looping clips, the loop-wrap jump (last frame against frame 0 shifted by the cycle drift,
  where playback jumps) beside the largest neighbouring-frame difference;
* pose jumps: steps (the loop wrap included) in which a joint turns far more than in the steps on
  either side (mimic.kinematics.pose_jumps), such as the seams where pieces of capture were joined;
* the kinematic-playback reward: the mean imitation reward of the environment playing the clip
  kinematically over one pass (about 1 for a clip the simulator reproduces).

A clip is *broken* (``report.problems`` not empty, ``check_clip.py`` exits 1) when it penetrates
the ground by more than ``MAX_PENETRATION``, bends a hinge past its limit by more than
``HINGE_TOLERANCE``, plays back with a reward below ``MIN_PLAYBACK_REWARD``, or has a frame jump
larger than ``MAX_JUMP_SPEED`` x dt (a glitch, not motion). Foot sliding, a loop-wrap jump far
above the neighbouring differences, pose jumps and a floating clip are warnings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from mimic.kinematics.character import REVOLUTE
from mimic.kinematics.clip import MotionClip
from mimic.kinematics.fk import forward_kinematics, link_bottoms, shape_bottoms
from mimic.kinematics.pose_jumps import find_pose_jumps
from mimic.kinematics.retarget import contact_runs

CONTACT_HEIGHT = 0.025  # m: a foot whose shapes reach below this may be on the ground
SWING_SPEED = 1.0  # m/s: ... unless its centre moves faster than this horizontally
MAX_PENETRATION = 0.02  # m below the ground
HINGE_TOLERANCE = 0.01  # rad past a hinge limit
MIN_PLAYBACK_REWARD = 0.99
MAX_JUMP_SPEED = 60.0  # rad/s of one joint, or m/s of one joint point, between two frames
SLIDE_WARNING = 0.05  # m slid by a foot in one stance
FLOAT_WARNING = 0.05  # m: the lowest point over the whole clip stays this far above ground
WRAP_WARNING = 3.0  # loop-wrap jump / largest neighbouring-frame difference


@dataclass
class Stance:
    foot: str
    start: float  # s
    end: float  # s (may exceed the duration for a stance wrapping the loop)
    slide: float  # m, horizontal path of the foot centre while down


@dataclass
class ClipReport:
    name: str
    character: str
    frames: int
    duration: float
    loop: str
    hinge_violation: float  # rad past the limit (0: inside)
    hinge_violation_at: str  # "joint, frame f"
    lowest_point: float  # m (negative: penetration)
    lowest_point_at: str
    root_height: tuple  # (min, max) m
    jump_angle: float  # rad, largest frame-to-frame joint rotation
    jump_angle_at: str
    jump_distance: float  # m, largest frame-to-frame joint displacement
    jump_distance_at: str
    wrap_angle: float | None  # loop clips: rad, last frame -> frame 0 (+ drift)
    wrap_distance: float | None  # m
    stances: list = field(default_factory=list)
    footfalls: dict = field(default_factory=dict)  # foot -> timeline string ('#' down, '.' up)
    pose_jumps: list = field(default_factory=list)  # PoseJump, see mimic.kinematics.pose_jumps
    playback_reward: float | None = None
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def max_slide(self) -> float:
        return max((s.slide for s in self.stances), default=0.0)

    def mean_slide(self) -> float:
        return float(np.mean([s.slide for s in self.stances])) if self.stances else 0.0

    def sliding(self) -> dict:
        """Per foot (and 'all'): stances, mean and max sliding per stance in cm."""
        groups = {"all": self.stances}
        for s in self.stances:
            groups.setdefault(s.foot, []).append(s)
        return {
            k: dict(
                stances=len(v),
                mean_cm=100 * float(np.mean([s.slide for s in v])) if v else 0.0,
                max_cm=100 * max((s.slide for s in v), default=0.0),
            )
            for k, v in groups.items()
        }

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["sliding"] = self.sliding()
        return d

    def format(self) -> str:
        return format_report(self)


def _angles(q0, q1):
    """Rotation angle between unit quaternions, elementwise [..., 4] -> [...]."""
    return 2.0 * np.arccos(np.minimum(np.abs(np.sum(q0 * q1, axis=-1)), 1.0))


def _where(clip: MotionClip, flat_index: int, cols: list) -> str:
    """'joint, frames f-(f+1)' for a flat index into a [N-1, J] array of frame transitions."""
    f, j = divmod(int(flat_index), len(cols))
    return f"{cols[j]}, frames {f}-{f + 1}"


def hinge_violation(clip: MotionClip):
    """(largest violation in rad, 'joint, frame f') of the hinge limits over the clip's frames."""
    ch = clip.character
    worst, at = 0.0, "-"
    for j in np.flatnonzero(ch.joint_types == REVOLUTE):
        lim = ch.joint_limits[j]
        if lim is None:
            continue
        a = clip.hinge_angle[:, j]
        v = np.maximum(lim[0] - a, a - lim[1])
        f = int(np.argmax(v))
        if v[f] > worst:
            worst, at = float(v[f]), f"{ch.joint_names[j]}, frame {f}"
    return worst, at


def frame_jumps(clip: MotionClip, joint_pos):
    """Per-transition largest joint angle [N-1] and joint displacement [N-1], with the joints."""
    ang = _angles(clip.local_rot[:-1], clip.local_rot[1:])  # [N-1, J]
    dist = np.linalg.norm(joint_pos[1:] - joint_pos[:-1], axis=-1)  # [N-1, J]
    return ang, dist


def wrap_jump(clip: MotionClip, joint_pos):
    """(angle rad, distance m) between the last frame and frame 0 moved by the cycle drift."""
    ang = _angles(clip.local_rot[-1], clip.local_rot[0]).max()
    dist = np.linalg.norm(joint_pos[-1] - (joint_pos[0] + clip.cycle_delta), axis=-1).max()
    return float(ang), float(dist)


def foot_contact(clip: MotionClip, fk: dict, bottoms: np.ndarray) -> np.ndarray:
    """[N, F] True where foot ``clip.character.feet[i]`` is down at frame f."""
    feet = clip.character.feet
    centre = fk["com_pos"][:, feet][..., [0, 2]]  # [N, F, 2]
    speed = np.linalg.norm(np.diff(centre, axis=0), axis=-1) / clip.dts[:-1, None]
    # frame N-1 of a loop is frame 0 of the next cycle; a clip's last frame repeats its last step
    speed = np.concatenate([speed, speed[:1] if clip.loop else speed[-1:]])
    return (bottoms[:, feet] < CONTACT_HEIGHT) & (speed < SWING_SPEED)


def foot_stances(clip: MotionClip, fk: dict, contact: np.ndarray) -> list:
    """Stance phases of every foot with their horizontal sliding. A looping clip's frames
    repeat every N - 1 (its last frame is the next cycle's frame 0), so a stance through the
    wrap is one stance, continued with the cycle drift added."""
    ch = clip.character
    period = clip.num_frames - 1 if clip.loop else clip.num_frames
    out = []
    for i, j in enumerate(ch.feet):
        centre = fk["com_pos"][:, j, :]
        for a, b in contact_runs(contact[:period, i], loop=clip.loop):
            k = np.arange(a, b)
            pts = centre[k % period] + (k // period)[:, None] * clip.cycle_delta
            slide = float(np.linalg.norm(np.diff(pts[:, [0, 2]], axis=0), axis=1).sum())
            last = b - 1
            t1 = (last // period) * clip.duration + clip.frame_times[last % period]
            out.append(Stance(ch.joint_names[j], float(clip.frame_times[a]), float(t1), slide))
    return out


def footfall_table(clip: MotionClip, contact: np.ndarray, columns: int = 40) -> dict:
    """Foot -> timeline of ``columns`` time bins over the clip: '#' down, '.' up (the foot's
    state at the frame nearest each bin's centre)."""
    ch = clip.character
    t = (np.arange(columns) + 0.5) / columns * clip.duration
    f = np.clip(np.searchsorted(clip.frame_times, t), 0, clip.num_frames - 1)
    return {ch.joint_names[j]: "".join("#" if down else "." for down in contact[f, i]) for i, j in enumerate(ch.feet)}


def playback_reward(clip: MotionClip) -> float:
    """Mean reward of the environment playing ``clip`` kinematically over one pass."""
    from mimic.envs.imitation import ImitationEnv

    if clip.path is None:
        raise ValueError("playback_reward needs a clip loaded from a file")
    env = ImitationEnv(
        motion=str(clip.path),
        character=clip.character.name,
        kinematic=True,
        mode="test",
        rsi=False,
        early_termination=False,
    )
    try:
        env.reset(options={"time": 0.0})
        steps = max(1, int(math.floor(clip.duration / env.control_dt + 1e-9)))
        zero = np.zeros(env.action_space.shape, np.float32)
        rewards = [env.step(zero)[1] for _ in range(steps)]
    finally:
        env.close()
    return float(np.mean(rewards))


def check_clip(clip: MotionClip, playback: bool = True) -> ClipReport:
    """All figures of the module docstring for ``clip``; ``playback=False`` skips the env."""
    ch = clip.character
    fk = forward_kinematics(ch, clip.root_pos, clip.local_rot)
    shapes = shape_bottoms(ch, fk["joint_pos"], fk["joint_rot"])  # [N, S]
    bottoms = link_bottoms(ch, fk["joint_pos"], fk["joint_rot"])  # [N, J]
    low_f, low_s = np.unravel_index(int(np.argmin(shapes)), shapes.shape)
    violation, violation_at = hinge_violation(clip)
    ang, dist = frame_jumps(clip, fk["joint_pos"])
    names = list(ch.joint_names)
    wrap = wrap_jump(clip, fk["joint_pos"]) if clip.loop else (None, None)
    contact = foot_contact(clip, fk, bottoms)
    rep = ClipReport(
        name=clip.name,
        character=ch.name,
        frames=clip.num_frames,
        duration=clip.duration,
        loop="wrap" if clip.loop else "none",
        hinge_violation=violation,
        hinge_violation_at=violation_at,
        lowest_point=float(shapes[low_f, low_s]),
        lowest_point_at=f"{names[ch.shape_link[low_s]]}, frame {low_f}",
        root_height=(float(clip.root_pos[:, 1].min()), float(clip.root_pos[:, 1].max())),
        jump_angle=float(ang.max()),
        jump_angle_at=_where(clip, int(np.argmax(ang)), names),
        jump_distance=float(dist.max()),
        jump_distance_at=_where(clip, int(np.argmax(dist)), names),
        wrap_angle=wrap[0],
        wrap_distance=wrap[1],
        stances=foot_stances(clip, fk, contact),
        footfalls=footfall_table(clip, contact),
        pose_jumps=find_pose_jumps(clip),
    )
    if playback:
        rep.playback_reward = playback_reward(clip)
    judge(rep, clip, ang, dist)
    return rep


def judge(rep: ClipReport, clip: MotionClip, ang, dist):
    """Fill ``rep.problems`` (broken clip) and ``rep.warnings`` from the figures."""
    if rep.lowest_point < -MAX_PENETRATION:
        rep.problems.append(
            f"penetrates the ground by {-100 * rep.lowest_point:.1f} cm "
            f"({rep.lowest_point_at}; limit {100 * MAX_PENETRATION:.0f} cm)"
        )
    if rep.hinge_violation > HINGE_TOLERANCE:
        rep.problems.append(f"hinge limit exceeded by {rep.hinge_violation:.3f} rad ({rep.hinge_violation_at})")
    if rep.playback_reward is not None and rep.playback_reward < MIN_PLAYBACK_REWARD:
        rep.problems.append(f"kinematic-playback reward {rep.playback_reward:.4f} < {MIN_PLAYBACK_REWARD}")
    dt = clip.dts[:-1, None]
    speed = np.maximum(ang / dt, dist / dt)
    if speed.max() > MAX_JUMP_SPEED:
        at = _where(clip, int(np.argmax(speed)), list(clip.character.joint_names))
        rep.problems.append(
            f"frame jump of {speed.max():.0f} rad/s or m/s ({at}; limit {MAX_JUMP_SPEED:.0f}): a glitch in the data"
        )
    slides = [s for s in rep.stances if s.slide > SLIDE_WARNING]
    if slides:
        s = max(slides, key=lambda s: s.slide)
        rep.warnings.append(
            f"{len(slides)} stance(s) slide more than "
            f"{100 * SLIDE_WARNING:.0f} cm (worst {100 * s.slide:.1f} cm, "
            f"{s.foot} at {s.start:.2f}-{s.end:.2f} s)"
        )
    if rep.pose_jumps:
        seams = sorted({j.frame for j in rep.pose_jumps})
        worst = max(rep.pose_jumps, key=lambda j: j.step_deg - j.neighbour_deg)
        rep.warnings.append(
            f"{len(rep.pose_jumps)} pose jump(s) in {len(seams)} step(s) (after frame(s) "
            f"{', '.join(map(str, seams))}); worst: {worst.joint} turns {worst.step_deg:.1f} deg from frame "
            f"{worst.frame} against {worst.neighbour_deg:.1f} deg in the steps beside it "
            f"(check_clip.py --blend_jumps OUT writes a copy with them blended)"
        )
    if rep.lowest_point > FLOAT_WARNING:
        rep.warnings.append(f"never touches the ground (lowest point {rep.lowest_point:.3f} m)")
    if rep.wrap_angle is not None:
        near = max(ang.max(), 1e-6)
        if rep.wrap_angle > WRAP_WARNING * near:
            rep.warnings.append(
                f"loop-wrap jump {rep.wrap_angle:.3f} rad is "
                f"{rep.wrap_angle / near:.1f}x the largest neighbouring-frame "
                f"difference ({near:.3f} rad)"
            )


def format_report(rep: ClipReport) -> str:
    """The report as printed by check_clip.py and import_clip.py."""
    lines = [
        f"clip {rep.name} ({rep.character}): {rep.frames} frames, {rep.duration:.3f} s, loop {rep.loop}",
        f"  largest hinge-limit violation  {rep.hinge_violation:.4f} rad ({rep.hinge_violation_at})",
        f"  lowest body point             {100 * rep.lowest_point:+.2f} cm ({rep.lowest_point_at})",
        f"  root height                   {rep.root_height[0]:.3f} .. {rep.root_height[1]:.3f} m",
        f"  largest frame-to-frame jump   {rep.jump_angle:.3f} rad ({rep.jump_angle_at}); "
        f"{100 * rep.jump_distance:.1f} cm ({rep.jump_distance_at})",
    ]
    if rep.wrap_angle is not None:
        lines.append(f"  loop-wrap jump                {rep.wrap_angle:.3f} rad, {100 * rep.wrap_distance:.1f} cm")
    sliding = rep.sliding()
    for foot, table in rep.footfalls.items():
        st = sliding.get(foot)
        slide = f"sliding per stance {st['mean_cm']:.1f} cm mean, {st['max_cm']:.1f} cm max" if st else "never down"
        lines.append(f"  {foot:<14s} |{table}|  {st['stances'] if st else 0} stance(s), {slide}")
    if rep.stances:
        a = sliding["all"]
        lines.append(
            f"  foot sliding per stance       {a['mean_cm']:.1f} cm mean, "
            f"{a['max_cm']:.1f} cm max ({a['stances']} stances)"
        )
    if rep.playback_reward is not None:
        lines.append(f"  kinematic-playback reward     {rep.playback_reward:.4f}")
    lines += [f"  WARNING: {w}" for w in rep.warnings]
    lines += [f"  BROKEN: {p}" for p in rep.problems]
    lines.append("  OK" if rep.ok else "  clip is broken")
    return "\n".join(lines)
