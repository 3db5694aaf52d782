"""Keypoints -> character pose: damped-least-squares inverse kinematics and foot planting.

The one module that turns target points (and optionally target orientations) into a pose of any
mimic character, used by every importer that retargets motion onto our characters (the dog clips
of ``mimic/make_dog_clips.py`` and ``mimic/make_gait.py``; the BVH import). numpy only, on top of
:mod:`mimic.kinematics.fk`.

Poses are mimic's clip layout: ``root_pos [..., 3]`` and ``local_rot [..., J, 4]`` (xyzw; the
root's entry is its world rotation, a ball joint's its local rotation, a hinge's the rotation
about its z axis, a fixed joint's the identity). :func:`hinge_angles` reads hinge angles back.

IK (:class:`IKSolver`)
    ``solver = IKSolver(character, active=[...], points=[(joint, offset), ...],
    orient=[joint, ...], root_translation=False, root_rotation=False)`` fixes the problem:
    which joints may move and which body points (a joint and an offset in its frame) and body
    orientations are driven. ``solver.solve(root_pos, local_rot, point_targets, rot_targets)``
    runs damped Gauss-Newton steps on a batch of poses at once (any leading shape: all frames of
    a clip in one call), each step

        delta = (J^T W J + damping I)^-1 J^T W e + (I - pinv(J) J) (p * r)

    with e the point errors (metres) and orientation errors (rotation vectors, radians), W the
    per-target weights, r the tangent-space difference to a rest posture (``rest_rot``) and p
    the per-joint posture gains in [0, 1] (the fraction of r closed per step), scaled down so no
    component exceeds ``max_step`` (a trust region; the damping only guards singular poses).
    The posture pull acts only in the null space of the targets, so it keeps redundant joints
    (a four-segment dog leg, a spine) natural without pulling reachable targets off. Ball
    joints are updated as q <- q exp(delta) in their own frame, hinges add delta to their angle,
    the root rotation as q <- exp(delta) q in the world. Joint limits are kept after every step:
    a hinge is clamped to its URDF range, a ball joint with YAML ``limits`` has its rotation
    vector clamped per axis, and a degree of freedom at a limit that a step would push past is
    held for that step while the others are re-solved without it.
    ``solver.solve_sequence(...)`` solves a clip in order, each frame started from an earlier
    frame's solution (warm start: continuous, no branch flips), a few frames per batched call,
    and is the call to use for clips. The Jacobian is analytic and built for all effectors and
    degrees of freedom in a few array operations per step (a 34-frame dog clip, 40 degrees of
    freedom, 4 paw positions and orientations: about 1 s).

Contacts and planting (any character, any number of contact points)
    :func:`detect_contacts` marks the frames where a point is low and slow (stance);
    :func:`plant_contacts` replaces each stance run by one fixed ground position and shifts the
    swings between them smoothly so nothing jumps; :func:`lift_swings` adds a small arch to the
    swings so they clear the ground; all understand looping clips whose root drifts by a fixed
    offset per cycle. :func:`contact_runs` lists the runs of a contact mask.
    :func:`plant_feet` does all of it for a clip of a character (the BVH import): the stances
    of its YAML ``feet`` found with hysteresis (:class:`StanceParams`), each foot's sole held
    still through them, and the legs re-solved with the IK above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimic.kinematics import rotations as R
from mimic.kinematics.character import REVOLUTE, ROOT, SPHERICAL, Character
from mimic.kinematics.fk import forward_kinematics, link_bottoms


def hinge_angles(local_rot, character: Character):
    """Hinge angles [..., J] (0 for other joints) of poses in mimic's layout."""
    q = np.asarray(local_rot)
    ang = 2.0 * np.arctan2(q[..., 2], q[..., 3])
    ang = np.mod(ang + np.pi, 2 * np.pi) - np.pi
    return np.where(character.joint_types == REVOLUTE, ang, 0.0)


@dataclass
class IKResult:
    root_pos: np.ndarray  # [..., 3]
    local_rot: np.ndarray  # [..., J, 4]
    point_error: np.ndarray  # [..., P] distance of each driven point to its target (m)
    rot_error: np.ndarray  # [..., O] angle of each driven orientation to its target (rad)


class IKSolver:
    """Damped-least-squares IK for one character and one choice of driven points (see module)."""

    def __init__(
        self,
        character: Character,
        active,
        points=(),
        orient=(),
        *,
        root_translation=False,
        root_rotation=False,
        damping=1e-6,
        max_step=0.2,
        point_weights=None,
        orient_weights=None,
        posture_weight=0.0,
    ):
        """active: joint names or indices that may rotate (balls and hinges); points: (joint,
        offset [3] in that joint's frame) per driven point; orient: joints whose world rotation
        is driven; posture_weight: a gain in [0, 1], a scalar or {joint: gain}, pulling the
        active joints toward ``rest_rot`` within the targets' null space."""
        ch = character
        self.character = ch
        idx = [self._joint(j) for j in active]
        for j in idx:
            if ch.joint_types[j] not in (SPHERICAL, REVOLUTE):
                raise ValueError(
                    f"IK: joint '{ch.joint_names[j]}' of '{ch.name}' is not a ball or hinge joint and cannot be active"
                )
        self.point_joint = np.array([self._joint(j) for j, _ in points], dtype=int)
        self.point_offset = np.array([np.asarray(o, float) for _, o in points]).reshape(-1, 3)
        self.orient_joint = np.array([self._joint(j) for j in orient], dtype=int)
        # degrees of freedom: (joint, axis, kind); kind 0 root translation, 1 root rotation
        # (world axes), 2 ball (own axes), 3 hinge (own z)
        dof = []
        if root_translation:
            dof += [(0, k, 0) for k in range(3)]
        if root_rotation:
            dof += [(0, k, 1) for k in range(3)]
        for j in idx:
            dof += [(j, k, 2) for k in range(3)] if ch.joint_types[j] == SPHERICAL else [(j, 2, 3)]
        if not dof:
            raise ValueError("IK: nothing may move (no active joint, no root freedom)")
        self.dof_joint = np.array([d[0] for d in dof], dtype=int)
        self.dof_axis = np.array([d[1] for d in dof], dtype=int)
        self.dof_kind = np.array([d[2] for d in dof], dtype=int)
        self.active = np.array(sorted(set(idx)), dtype=int)
        anc = _ancestors(ch)
        effectors = np.concatenate([self.point_joint, self.orient_joint])
        # moves[e, d]: does dof d move effector e?  (the root moves everything)
        self.moves = np.array(
            [[self.dof_kind[d] < 2 or anc[e, self.dof_joint[d]] for d in range(len(dof))] for e in effectors],
            dtype=float,
        )
        self.damping = float(damping)
        self.max_step = float(max_step)
        self.point_w = self._weights(point_weights, len(self.point_joint))
        self.orient_w = self._weights(orient_weights, len(self.orient_joint))
        self.posture = self._posture(posture_weight)

    # ------------------------------------------------------------------ set-up helpers
    def _joint(self, j) -> int:
        return self.character.index(j) if isinstance(j, str) else int(j)

    @staticmethod
    def _weights(w, n):
        return np.ones(n) if w is None else np.broadcast_to(np.asarray(w, float), (n,)).copy()

    def _posture(self, w):
        per_joint = np.zeros(self.character.num_joints)
        if isinstance(w, dict):
            for j, v in w.items():
                per_joint[self._joint(j)] = v
        else:
            per_joint[:] = float(w)
        p = per_joint[self.dof_joint]
        p[self.dof_kind < 2] = 0.0  # the root has no rest posture
        return p

    # ------------------------------------------------------------------ solving
    def solve(
        self, root_pos, local_rot, point_targets=None, rot_targets=None, rest_rot=None, iterations=30, tol=1e-5
    ) -> IKResult:
        """Solve a batch of poses (leading shape ``root_pos.shape[:-1]``) from the given start.

        point_targets [..., P, 3] (world), rot_targets [..., O, 4] (world, xyzw), rest_rot
        [..., J, 4] the rest posture that the posture weights pull toward (default: the start).
        Each pose stops when its step moves less than ``tol`` (radians / metres); the others
        go on (a long clip costs what its slowest poses need, not every pose that much)."""
        root = np.array(root_pos, dtype=np.float64)
        rot = np.array(local_rot, dtype=np.float64)
        lead = root.shape[:-1]
        pt = np.broadcast_to(
            np.zeros((0, 3)) if point_targets is None else point_targets, lead + (len(self.point_joint), 3)
        )
        rt = None if rot_targets is None else np.broadcast_to(rot_targets, lead + (len(self.orient_joint), 4))
        if len(self.orient_joint) and rt is None:
            raise ValueError("IK: orient joints given but no rot_targets")
        rest = rot.copy() if rest_rot is None else np.broadcast_to(rest_rot, rot.shape)
        J = self.character.num_joints
        flat = [
            root.reshape(-1, 3),
            rot.reshape(-1, J, 4),
            pt.reshape(-1, pt.shape[-2], 3),
            None if rt is None else rt.reshape(-1, rt.shape[-2], 4),
            rest.reshape(-1, J, 4),
        ]
        reg = self.damping * np.eye(len(self.dof_joint))
        live = np.arange(len(flat[0]))
        for _ in range(iterations):
            if not len(live):
                break
            r, q, p, o, rs = (None if a is None else a[live] for a in flat)
            delta = self._iteration(r, q, p, o, rs, reg)
            flat[0][live], flat[1][live] = self._apply(r, q, delta)
            live = live[np.abs(delta).max(axis=-1) >= tol]
        return self._result(flat[0].reshape(root.shape), flat[1].reshape(rot.shape), pt, rt)

    def _iteration(self, root, rot, pt, rt, rest, reg):
        """One damped, limit-aware, trust-region step [M, D] for poses [M, ...]."""
        fk = forward_kinematics(self.character, root, rot)
        jac, err = self._linearise(fk, pt, rt)
        pull = self.posture * self._posture_residual(rot, rest) if self.posture.any() else None
        delta = self._step(jac, err, pull, reg)
        # hinges at a limit that the step pushes further out are held, the rest re-solved
        blocked = self._blocked(rot, delta)
        if blocked.any():
            keep = ~blocked[..., None, :]
            delta = self._step(jac * keep, err, None if pull is None else pull * ~blocked, reg) * ~blocked
        # trust region: no joint turns more than max_step per iteration
        big = np.abs(delta).max(axis=-1, keepdims=True)
        return delta * np.minimum(1.0, self.max_step / np.maximum(big, 1e-12))

    def solve_sequence(
        self,
        root_pos,
        local_rot,
        point_targets=None,
        rot_targets=None,
        rest_rot=None,
        iterations=30,
        tol=1e-5,
        first_iterations=200,
        chunk=8,
    ) -> IKResult:
        """Frames [N, ...] solved in order, warm-started: frame 0 alone from ``local_rot[0]``,
        then blocks of ``chunk`` frames solved together (one batched call each), every frame of
        a block started from the last solved frame before it (``chunk=1``: strictly frame by
        frame). Starting near the neighbouring solution keeps the motion continuous.

        ``root_pos`` [N, 3] and ``local_rot`` [N, J, 4] give every frame's root start and
        inactive joints, and frame 0's active joints; ``rest_rot`` [N, J, 4] the rest posture."""
        root = np.array(root_pos, dtype=np.float64)
        rot = np.array(local_rot, dtype=np.float64)
        rest = rot.copy() if rest_rot is None else np.asarray(rest_rot, dtype=np.float64)
        pts = np.zeros((len(root), 0, 3)) if point_targets is None else np.asarray(point_targets)
        start = 0
        while start < len(root):
            stop = 1 if start == 0 else min(len(root), start + chunk)
            sl = slice(start, stop)
            if start > 0:
                rot[sl][:, self.active] = rot[start - 1, self.active]
            res = self.solve(
                root[sl],
                rot[sl],
                pts[sl],
                None if rot_targets is None else rot_targets[sl],
                rest[sl],
                iterations=first_iterations if start == 0 else iterations,
                tol=tol,
            )
            root[sl], rot[sl] = res.root_pos, res.local_rot
            start = stop
        return self._result(root, rot, pts, rot_targets)

    # ------------------------------------------------------------------ internals
    def _row_weights(self):
        return np.concatenate([np.repeat(self.point_w, 3), np.repeat(self.orient_w, 3)])

    def _linearise(self, fk, pt, rt):
        """(Jacobian [..., 3(P+O), D], error [..., 3(P+O)]) of the driven points and rotations."""
        jpos, jrot = fk["joint_pos"], fk["joint_rot"]
        lead = jpos.shape[:-2]
        D = len(self.dof_joint)
        axes = np.eye(3)[self.dof_axis]  # [D, 3]
        own = self.dof_kind >= 2
        world_axis = np.broadcast_to(axes, lead + (D, 3)).copy()
        world_axis[..., own, :] = R.quat_rotate(jrot[..., self.dof_joint[own], :], axes[own])
        pivot = jpos[..., self.dof_joint, :]  # [..., D, 3]
        p = jpos[..., self.point_joint, :] + R.quat_rotate(
            jrot[..., self.point_joint, :], self.point_offset
        )  # [..., P, 3]
        arm = p[..., :, None, :] - pivot[..., None, :, :]  # [..., P, D, 3]
        jp = np.cross(world_axis[..., None, :, :], arm)
        trans = self.dof_kind == 0
        jp[..., trans, :] = np.broadcast_to(axes[trans], jp[..., trans, :].shape)
        P = len(self.point_joint)
        jp = jp * self.moves[:P, :, None]
        blocks = [np.swapaxes(jp, -1, -2).reshape(lead + (3 * P, D))]
        errs = [(pt - p).reshape(lead + (3 * P,))]
        if len(self.orient_joint):
            jo = np.broadcast_to(world_axis[..., None, :, :], lead + (len(self.orient_joint), D, 3))
            jo = jo * self.moves[P:, :, None] * (~trans)[:, None]
            blocks.append(np.swapaxes(jo, -1, -2).reshape(lead + (-1, D)))
            cur = jrot[..., self.orient_joint, :]
            errs.append(R.quat_to_rotvec(R.quat_mul(rt, R.quat_conj(cur))).reshape(lead + (-1,)))
        return np.concatenate(blocks, axis=-2), np.concatenate(errs, axis=-1)

    def _step(self, jac, err, pull, reg):
        """Damped least-squares step toward the targets plus the null-space posture pull."""
        jtw = np.swapaxes(jac, -1, -2) * self._row_weights()
        delta = np.linalg.solve(jtw @ jac + reg, jtw @ err[..., None])[..., 0]
        if pull is not None:
            exact = np.linalg.pinv(jac, rcond=1e-6)
            delta = delta + pull - (exact @ (jac @ pull[..., None]))[..., 0]
        return delta

    def _blocked(self, rot, delta):
        """[..., D] joint dofs at a limit (within 1e-6) that delta pushes past it: a hinge's
        angle, a limited ball joint's rotation-vector component along the dof's axis."""
        blocked = np.zeros(delta.shape, dtype=bool)
        ch = self.character
        for d in np.flatnonzero(self.dof_kind >= 2):
            j = self.dof_joint[d]
            lim = ch.joint_limits[j]
            if lim is None:
                continue
            q = rot[..., j, :]
            if self.dof_kind[d] == 3:
                value, lo, hi = 2.0 * np.arctan2(q[..., 2], q[..., 3]), lim[0], lim[1]
            else:
                k = self.dof_axis[d]
                value, lo, hi = R.quat_to_rotvec(q)[..., k], lim[0][k], lim[1][k]
            blocked[..., d] = ((value <= lo + 1e-6) & (delta[..., d] < 0)) | (
                (value >= hi - 1e-6) & (delta[..., d] > 0)
            )
        return blocked

    def _posture_residual(self, rot, rest):
        """Per dof, the step that would bring the joint to its rest rotation."""
        q = rot[..., self.dof_joint, :]
        qr = rest[..., self.dof_joint, :]
        rv = R.quat_to_rotvec(R.quat_mul(R.quat_conj(q), qr))
        return rv[..., np.arange(len(self.dof_axis)), self.dof_axis]

    def _apply(self, root, rot, delta):
        ch = self.character
        kind, joint, axis = self.dof_kind, self.dof_joint, self.dof_axis
        root = root + _gather_axes(delta, kind == 0, axis, root.shape[:-1])
        if (kind == 1).any():
            dq = R.quat_from_rotvec(_gather_axes(delta, kind == 1, axis, root.shape[:-1]))
            rot[..., 0, :] = R.quat_normalize(R.quat_mul(dq, rot[..., 0, :]))
        for j in self.active:
            sel = joint == j
            step = np.zeros(root.shape[:-1] + (3,))
            step[..., axis[sel]] = delta[..., sel]
            q = R.quat_normalize(R.quat_mul(rot[..., j, :], R.quat_from_rotvec(step)))
            rot[..., j, :] = _clamp_joint(ch, j, q)
        return root, rot

    def _result(self, root, rot, pt, rt):
        fk = forward_kinematics(self.character, root, rot)
        p = fk["joint_pos"][..., self.point_joint, :] + R.quat_rotate(
            fk["joint_rot"][..., self.point_joint, :], self.point_offset
        )
        perr = np.linalg.norm(p - pt, axis=-1)
        if len(self.orient_joint):
            cur = fk["joint_rot"][..., self.orient_joint, :]
            oerr = R.quat_angle(R.quat_mul(rt, R.quat_conj(cur)))
        else:
            oerr = np.zeros(root.shape[:-1] + (0,))
        return IKResult(root, rot, perr, oerr)


def _gather_axes(delta, sel, axis, lead):
    out = np.zeros(lead + (3,))
    if sel.any():
        out[..., axis[sel]] = delta[..., sel]
    return out


def _clamp_joint(ch: Character, j: int, q):
    lim = ch.joint_limits[j]
    if lim is None:
        return q
    if ch.joint_types[j] == REVOLUTE:
        ang = np.clip(2.0 * np.arctan2(q[..., 2], q[..., 3]), lim[0], lim[1])
        return np.stack([0 * ang, 0 * ang, np.sin(0.5 * ang), np.cos(0.5 * ang)], axis=-1)
    rv = R.quat_to_rotvec(q)
    return R.quat_from_rotvec(np.clip(rv, lim[0], lim[1]))


def _ancestors(ch: Character) -> np.ndarray:
    """anc[e, j]: joint j is e itself or one of its ancestors."""
    J = ch.num_joints
    anc = np.zeros((J, J), dtype=bool)
    for e in range(J):
        j = e
        while j >= 0:
            anc[e, j] = True
            j = ch.parents[j]
    return anc


# ------------------------------------------------------------------------------------------
# Contacts and foot planting
# ------------------------------------------------------------------------------------------


def detect_contacts(
    points,
    dt,
    height=0.03,
    speed=0.4,
    ground=0.0,
    up=1,
    min_frames=2,
    loop=False,
    release_height=None,
    release_speed=None,
    heights=None,
):
    """Stance mask [N, F] for contact points [N, F, 3], with hysteresis.

    A stance starts at a frame where the point is at most ``height`` above ``ground`` and moves
    horizontally slower than ``speed`` (m/s), and lasts while it stays at most
    ``release_height`` high and slower than ``release_speed`` (both default to the starting
    thresholds: no hysteresis). Runs shorter than ``min_frames`` are dropped. ``heights``
    [N, F], if given, replaces the points' own heights (e.g. the lowest point of a foot whose
    centre gives the speed)."""
    p = np.asarray(points, dtype=np.float64)
    horiz = [k for k in range(3) if k != up]
    v = np.linalg.norm(np.gradient(p[..., horiz], dt, axis=0), axis=-1)
    h = (p[..., up] if heights is None else np.asarray(heights, dtype=np.float64)) - ground
    start = (h <= height) & (v <= speed)
    rh = height if release_height is None else max(release_height, height)
    rs = speed if release_speed is None else max(release_speed, speed)
    stay = (h <= rh) & (v <= rs)
    n = len(p)
    mask = np.zeros(start.shape, dtype=bool)
    for f in range(mask.shape[1]):
        for a, b in contact_runs(stay[:, f], loop=loop):
            idx = np.arange(a, b)
            first = np.flatnonzero(start[idx % n, f])
            if loop and b - a == n and len(first):  # down all through the loop
                first[0] = 0
            if len(first) and b - a - first[0] >= min_frames:
                mask[idx[first[0] :] % n, f] = True
    return mask


def contact_runs(mask, loop=False):
    """(start, stop) frame ranges of the True runs of a 1-D mask; with ``loop`` a run that
    crosses the end continues from frame 0 and is returned once, with stop > len(mask)."""
    m = np.asarray(mask, dtype=bool)
    n = len(m)
    if m.all():
        return [(0, n)]
    edges = np.flatnonzero(np.diff(np.concatenate([[False], m, [False]]).astype(int)))
    runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    if loop and len(runs) > 1 and runs[0][0] == 0 and runs[-1][1] == n:
        first = runs.pop(0)
        last = runs.pop()
        runs.append((last[0], n + first[1]))
    return runs


def plant_contacts(
    points,
    contacts,
    ground=0.0,
    up=1,
    loop=False,
    cycle_offset=None,
    anchor="mean",
    blend=None,
    blend_rate=None,
    keep_height=False,
):
    """Points [N, F, 3] with every stance run held at one position on the ground.

    Each run of ``contacts[:, f]`` gets one horizontal position (the run's mean, or its first
    frame with ``anchor='first'``) at height ``ground``; with ``keep_height`` at the run's
    median height instead, easing to the point's own height over the ``blend`` frames at each
    end of the run (so a foot lifts and sets down in place, without sliding). A swing (the
    frames between two stances) keeps its own path but is shifted horizontally by a correction
    that starts at the first stance's (held position minus the source at the stance's last
    frame) and ends at the next one's (held minus the source at its first frame), so the point
    leaves and reaches its held positions without a jump:

    * ``blend=None``: the correction easing (smoothstep) over the whole swing;
    * ``blend=k`` frames: the correction eases out over the swing's first ``k`` frames and in
      over its last ``k``, and the frames between keep the source's path exactly (a swing of at
      most ``2k`` frames eases from one correction to the next over its whole length); with
      ``blend_rate`` (distance per frame) a correction of length c eases over at least
      c / blend_rate frames, so a large one is not taken up in a jump.

    Frames before the first and after the last stance of a clip that does not loop ease in
    from / out to no correction. For loops, frames past the end continue at the start shifted
    by ``cycle_offset`` (the root drift of one cycle); the last stance leads into the first."""
    p = np.array(points, dtype=np.float64)
    n, F = p.shape[:2]
    off = np.zeros(3) if cycle_offset is None else np.asarray(cycle_offset, float)
    horiz = np.arange(3) != up
    out = p.copy()

    def at(i):  # the source points [len(i), F, 3] at (unwrapped) frames i, drift included
        return p[i % n] + (i // n)[:, None, None] * off

    for f in range(F):
        held = []
        for start, stop in contact_runs(contacts[:, f], loop=loop):
            idx = np.arange(start, stop)
            run = at(idx)[:, f]
            target = np.broadcast_to(run.mean(axis=0) if anchor == "mean" else run[0], run.shape).copy()
            target[:, up] = _held_height(run[:, up], blend) if keep_height else ground
            out[idx % n, f] = target - (idx // n)[:, None] * off
            # the corrections that carry the source onto the held position at the run's ends
            held.append((start, stop, (target[0] - run[0]) * horiz, (target[-1] - run[-1]) * horiz))
        for stop, start, leave, arrive in _swings(held, n, loop):
            idx = np.arange(stop, start)
            if not len(idx):
                continue
            ease = [_ease_frames(c, blend, blend_rate) for c in (leave, arrive)]
            shifted = at(idx)[:, f] + _swing_correction(len(idx), leave, arrive, *ease)
            out[idx % n, f] = shifted - (idx // n)[:, None] * off
    return out


def _swings(held, n, loop):
    """(first frame, end frame, correction leaving, correction arriving) of the swings between
    the held runs (start, stop, correction at start, correction at stop) of one point."""
    zero = np.zeros(3)
    gaps = [(a[1], b[0], a[3], b[2]) for a, b in zip(held[:-1], held[1:])]
    if loop and held:
        gaps.append((held[-1][1], held[0][0] + n, held[-1][3], held[0][2]))
    elif held:
        gaps += [(0, held[0][0], zero, held[0][2]), (held[-1][1], n, held[-1][3], zero)]
    return gaps


def _ease_frames(correction, blend, blend_rate):
    """Frames over which a swing takes up ``correction`` (None: the whole swing)."""
    if blend is None:
        return None
    return max(blend, 0 if blend_rate is None else int(np.ceil(np.linalg.norm(correction) / blend_rate)))


def _held_height(h, blend):
    """Heights [L] of a held stance (see plant_contacts ``keep_height``)."""
    if not blend:
        return h
    i = np.arange(len(h))
    w = 1 - _smoothstep(np.minimum(i, len(h) - 1 - i) / blend)
    return np.median(h) + w * (h - np.median(h))


def _swing_correction(length, leave, arrive, ease_out, ease_in):
    """[length, 3] corrections of a swing from ``leave`` to ``arrive`` (see plant_contacts):
    eased out over ``ease_out`` frames and in over ``ease_in`` (None: over the whole swing)."""
    i = np.arange(length)[:, None]
    if ease_out is None or ease_out + ease_in >= length:
        e = _smoothstep((i + 1) / (length + 1))
        return (1 - e) * leave + e * arrive
    w_leave = 1 - _smoothstep((i + 1) / (ease_out + 1))
    w_arrive = 1 - _smoothstep((length - i) / (ease_in + 1))
    return w_leave * leave + w_arrive * arrive


def lift_swings(points, contacts, height, up=1, loop=False):
    """Points [N, F, 3] with a sine arch of peak ``height`` added to the height of every swing
    (the frames between two stance runs of ``contacts``), so that a swing clears the ground
    even where the source shuffles its foot along it; stance frames are unchanged."""
    out = np.array(points, dtype=np.float64)
    n = len(out)
    for f in range(out.shape[1]):
        runs = contact_runs(contacts[:, f], loop=loop)
        gaps = [(a[1], b[0]) for a, b in zip(runs[:-1], runs[1:])]
        if loop and runs:
            gaps.append((runs[-1][1], runs[0][0] + n))
        for stop, start in gaps:
            idx = np.arange(stop, start)
            out[idx % n, f, up] += height * np.sin(np.pi * (idx - stop + 1) / (len(idx) + 1))
    return out


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


# ------------------------------------------------------------------------------------------
# Planting a character's feet in a clip: stance detection, planting and leg IK
# ------------------------------------------------------------------------------------------


# Damping of the leg IK of plant_feet: a planted foot can be just out of reach of a straight
# leg; 1e-6 (IKSolver's default) then takes wild steps through the singular pose and ends
# ~9 cm off, 1e-3 ends about as close as the straight leg allows (3 cm on test_mocapbank.bvh,
# where the capture stands up while sliding its foot) and converges in a few steps (1e-2
# converges as closely, several times slower).
PLANT_IK_DAMPING = 1e-3


@dataclass(frozen=True)
class StanceParams:
    """The named thresholds of :func:`plant_feet` (m, m/s, s)."""

    height: float = 0.025  # a stance starts where a foot's lowest point is this low ...
    speed: float = 1.0  # ... and its centre moves horizontally slower than this,
    release_height: float = 0.03  # and lasts while the foot stays this low ...
    release_speed: float = 1.3  # ... and this slow (hysteresis)
    min_stance: float = 0.1  # shorter stances are not planted
    blend: float = 0.15  # swing time over which a foot eases off / onto its plant,
    catch_up_speed: float = 1.0  # longer where the plant is farther away than this speed takes

    def __post_init__(self):
        for name in ("height", "speed", "release_height", "release_speed", "min_stance", "blend", "catch_up_speed"):
            v = getattr(self, name)
            if not (v > 0 if name in ("speed", "catch_up_speed") else v >= 0):
                raise ValueError(
                    f"stance parameter {name} = {v} must be {'>' if name in ('speed', 'catch_up_speed') else '>='} 0"
                )


@dataclass
class PlantResult:
    root_pos: np.ndarray  # [N, 3] (unchanged)
    local_rot: np.ndarray  # [N, J, 4], the legs re-solved
    contacts: np.ndarray  # [N, F] the planted stances, per foot of ``character.feet``
    stance_error: float  # m, the largest distance of a sole corner from its held target
    point_error: float  # m, the same over all re-solved frames (swings eased too)


def leg_chain(ch: Character, foot: int) -> list:
    """The joints from the root's child down to ``foot`` (the humanoid: hip, knee, ankle)."""
    chain, j = [], foot
    while j > 0:
        chain.append(j)
        j = ch.parents[j]
    return chain[::-1]


def sole_points(ch: Character, foot: int) -> np.ndarray:
    """[4, 3] the corners of the bottom face of the foot's box, in the foot's joint frame (the
    face lowest when the character stands in its rest pose)."""
    boxes = np.flatnonzero((ch.shape_link == foot) & (ch.shape_radius == 0) & (ch.shape_half > 0).all(axis=1))
    if not len(boxes):
        raise ValueError(f"{ch.name}: foot '{ch.joint_names[foot]}' has no box collision shape to plant")
    s = boxes[0]
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    corners = ch.shape_origin[s] + (signs * ch.shape_half[s]) @ ch.shape_rot[s].T
    fk = forward_kinematics(ch, np.zeros(3), np.tile([0.0, 0.0, 0.0, 1.0], (ch.num_joints, 1)))
    world_y = R.quat_rotate(fk["joint_rot"][foot], corners)[:, 1]
    return corners[np.argsort(world_y)[:4]]


def plant_feet(
    ch: Character, root_pos, local_rot, dt: float, loop: bool = False, params: StanceParams = StanceParams()
) -> PlantResult:
    """The clip's feet held still on the ground through their stances (any character with box
    feet in its YAML ``feet``).

    1. Stances: :func:`detect_contacts` on each foot's lowest point (height) and body centre
       (horizontal speed), with the thresholds and hysteresis of ``params``.
    2. Targets: the four corners of each foot's sole, planted with :func:`plant_contacts`:
       through a stance each corner is held at its mean horizontal position and its median
       height, easing to the source's own height over the ``blend`` at the stance's ends (the
       foot sets down and lifts off in place, it does not slide); in the swings around it the
       foot eases back onto the source's path over ``blend``, or longer where that would be
       faster than ``catch_up_speed``.
    3. IK: hip, knee and ankle of each leg (ball joints inside their YAML limits, hinges inside
       their URDF limits) solved by :class:`IKSolver` from the source pose, only on the frames
       whose targets moved; the root and the rest of the body are not changed.

    A looping clip's last frame is frame 0 one cycle on (``root_pos[-1] - root_pos[0]``
    horizontally); stances may run across the wrap."""
    root = np.asarray(root_pos, dtype=np.float64)
    rot = np.array(local_rot, dtype=np.float64)
    period = len(root) - 1 if loop else len(root)
    feet = list(ch.feet)
    fk = forward_kinematics(ch, root, rot)
    contacts = _foot_stances(ch, fk, feet, period, dt, loop, params)
    corners = [sole_points(ch, f) for f in feet]
    soles = np.concatenate(
        [
            fk["joint_pos"][:period, f, None] + R.quat_rotate(fk["joint_rot"][:period, f, None], c)
            for f, c in zip(feet, corners)
        ],
        axis=1,
    )
    drift = (root[-1] - root[0]) * [1, 0, 1] if loop else None
    targets = plant_contacts(
        soles,
        np.repeat(contacts, 4, axis=1),
        loop=loop,
        cycle_offset=drift,
        blend=int(round(params.blend / dt)),
        blend_rate=params.catch_up_speed * dt,
        keep_height=True,
    )
    error = _reach_soles(ch, feet, corners, root, rot, soles, targets)
    held = error[np.repeat(contacts, 4, axis=1)]
    if loop:
        rot[-1] = rot[0]
        contacts = np.concatenate([contacts, contacts[:1]])
    return PlantResult(root, rot, contacts, float(held.max(initial=0.0)), float(error.max(initial=0.0)))


def _foot_stances(ch: Character, fk, feet, period, dt, loop, params: StanceParams):
    """Stance flags [period, F]: each foot's lowest point (height) and centre (speed)."""
    bottoms = link_bottoms(ch, fk["joint_pos"], fk["joint_rot"])[:period, feet]
    return detect_contacts(
        fk["com_pos"][:period, feet],
        dt,
        params.height,
        params.speed,
        loop=loop,
        min_frames=max(1, int(round(params.min_stance / dt))),
        heights=bottoms,
        release_height=params.release_height,
        release_speed=params.release_speed,
    )


def _reach_soles(ch: Character, feet, corners, root, rot, soles, targets):
    """Leg IK (in place on ``rot``) on the frames whose sole targets moved; returns each sole
    corner's remaining error [period, 4 F] (0 on the frames left alone)."""
    moved = np.flatnonzero(np.abs(targets - soles).max(axis=(1, 2)) > 1e-9)
    error = np.zeros(targets.shape[:2])
    if len(moved):
        solver = IKSolver(
            ch,
            [j for f in feet for j in leg_chain(ch, f)],
            [(f, c) for f, cs in zip(feet, corners) for c in cs],
            damping=PLANT_IK_DAMPING,
        )
        res = solver.solve(root[moved], rot[moved], targets[moved], iterations=40, tol=1e-4)
        rot[moved] = res.local_rot
        error[moved] = res.point_error
    return error


# ------------------------------------------------------------------------------------------
# Rotation transfer (BVH import): a source skeleton's world rotations onto a character
# ------------------------------------------------------------------------------------------


def rest_alignment(char_vectors, source_vectors) -> np.ndarray:
    """Per joint, the world rotation [J, 4] that turns the character's rest bones onto the
    source's rest bones: ``char_vectors[j]`` / ``source_vectors[j]`` are [K, 3] arrays of bone
    vectors from joint j to its children (or end), in the character's rest frame and in the
    source's rest pose (same world axes). K = 0: identity; K = 1: the smallest rotation taking
    the one bone onto the other (twist kept as in the source); K >= 2: the best-fitting rotation
    of the unit directions (Kabsch, scipy's ``align_vectors``), e.g. the pelvis from the spine
    and both hips, so T-pose, A-pose and arms-down rest poses all line up."""
    from scipy.spatial.transform import Rotation

    out = np.zeros((len(char_vectors), 4))
    out[:, 3] = 1.0
    for j, (a, b) in enumerate(zip(char_vectors, source_vectors)):
        a, b = np.asarray(a, float).reshape(-1, 3), np.asarray(b, float).reshape(-1, 3)
        if len(a) == 0:
            continue
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            rot, _ = Rotation.align_vectors(b, a)
        out[j] = rot.as_quat()
    return out


def transfer_rotations(character: Character, target_world, clamp=True):
    """Local rotations [..., J, 4] (clip layout) that give the character the world rotations
    ``target_world`` [..., J, 4] (the source's, already composed with :func:`rest_alignment`).

    Joints are placed parent first. A hinge takes the twist of its local target rotation about
    its axis (z), clamped to its limits with ``clamp``; the ball joint below it is then solved
    against the hinge as placed, so it takes the rest of the rotation (the foot keeps its world
    orientation when the knee cannot follow exactly). Fixed joints stay at the identity; the
    root takes its target. Returns (local_rot, hinge angle before clamping [..., J])."""
    ch = character
    tw = np.asarray(target_world, dtype=np.float64)
    local = np.zeros(tw.shape)
    local[..., 3] = 1.0
    world = np.zeros(tw.shape)
    raw = np.zeros(tw.shape[:-1])
    for j in range(ch.num_joints):
        p = ch.parents[j]
        if p < 0:
            local[..., j, :] = world[..., j, :] = tw[..., j, :]
            continue
        q = R.quat_mul(R.quat_conj(world[..., p, :]), tw[..., j, :])
        if ch.joint_types[j] == REVOLUTE:
            ang = 2.0 * np.arctan2(q[..., 2], q[..., 3])
            ang = np.mod(ang + np.pi, 2 * np.pi) - np.pi
            raw[..., j] = ang
            if clamp and ch.joint_limits[j] is not None:
                ang = np.clip(ang, *ch.joint_limits[j])
            half = 0.5 * ang
            q = np.stack([0 * half, 0 * half, np.sin(half), np.cos(half)], axis=-1)
        elif ch.joint_types[j] not in (SPHERICAL, ROOT):
            q = np.zeros_like(q)
            q[..., 3] = 1.0
        local[..., j, :] = q
        world[..., j, :] = R.quat_mul(world[..., p, :], q)
    return local, raw
