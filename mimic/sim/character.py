"""A character simulated in a World: URDF loading, stable PD, one batched state query, contacts."""

from __future__ import annotations

import itertools

import numpy as np
import pybullet as pb

from mimic import compiled
from mimic.kinematics.character import SPHERICAL, Character
from mimic.sim import link_state
from mimic.sim.world import World, quiet_stdout

try:  # compiled copy of the nested link-state tuples into an array (mimic/sim/_linkstate.c)
    if not compiled.wanted():
        raise ImportError(f"{compiled.SWITCH} is set")
    from mimic.sim._linkstate import flatten as _flatten
except ImportError:  # not built: np.fromiter below does the same, slower (bench/env_speed.py)
    _flatten = None

_chain = itertools.chain.from_iterable


class SimCharacter:
    """A character in a World. Link index j is the character's joint/body j.

    ``ghost=True`` loads a collision-free, translucent copy that is only ever posed (a kinematic
    reference for display); it never takes part in the dynamics.
    """

    def __init__(
        self, world: World, character: Character, ghost: bool = False, rgba=(0.4706, 0.549, 0.6863, 1.0), state_ext=None
    ):
        self.world = world
        self.character = character
        self.client = cid = world.client
        flags = pb.URDF_MAINTAIN_LINK_ORDER | pb.URDF_USE_INERTIA_FROM_FILE
        if not ghost:
            flags |= pb.URDF_USE_SELF_COLLISION | pb.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS
        with quiet_stdout():
            self.body = pb.loadURDF(
                str(character.urdf_path), [0, character.spawn_height, 0], flags=flags, physicsClientId=cid
            )
        n = pb.getNumJoints(self.body, physicsClientId=cid)
        if n != character.num_joints:
            raise ValueError(
                f"{character.urdf_path}: pybullet sees {n} links, the character description has {character.num_joints}"
            )
        self.links = list(range(n))
        self.actuated = [int(j) for j in character.actuated]
        types = character.joint_types
        self._is_ball = [types[j] == SPHERICAL for j in self.actuated]
        # Stable-PD arguments that never change, built once.
        self.kp = [float(character.kp[j]) for j in self.actuated]
        self.kd = [float(character.kd[j]) for j in self.actuated]
        self.max_forces = [
            [float(character.torque_limits[j])] * (3 if b else 1) for j, b in zip(self.actuated, self._is_ball)
        ]
        self.zero_vel = [[0.0, 0.0, 0.0] if b else [0.0] for b in self._is_ball]
        self.ghost = ghost
        if ghost:
            self._make_ghost()
        else:
            self._make_physical()
        if rgba is not None:
            for j in [-1] + self.links:
                pb.changeVisualShape(self.body, j, rgbaColor=list(rgba), physicsClientId=cid)
        # bound pybullet functions for the hot path
        self._set_pd = pb.setJointMotorControlMultiDofArray
        self._link_states = pb.getLinkStates
        self._contacts = pb.getContactPoints
        self._step = pb.stepSimulation
        # the link state, plus one extra "world" row (identity rotation, at rest) that stands in
        # for the root's parent, so parent rows of every joint come out of one fancy index. A
        # batch of characters passes a view of its own [K, J + 1, 27] array here.
        self.state_ext = np.zeros((n + 1, link_state.SIZE)) if state_ext is None else state_ext
        self.state_ext[n] = 0.0
        self.state_ext[n, link_state.JOINT_ROT_W] = 1.0
        self.state_ext[n, link_state.BODY_ROT_W] = 1.0
        self.state = self.state_ext[:n]

    def _make_ghost(self):
        """No collisions and asleep: a ghost is only drawn, never simulated."""
        cid = self.client
        sleep = pb.ACTIVATION_STATE_SLEEP + pb.ACTIVATION_STATE_ENABLE_SLEEPING + pb.ACTIVATION_STATE_DISABLE_WAKEUP
        for j in [-1] + self.links:
            pb.setCollisionFilterGroupMask(self.body, j, 0, 0, physicsClientId=cid)
            pb.changeDynamics(self.body, j, activationState=sleep, physicsClientId=cid)

    def _make_physical(self):
        """No damping, and pybullet's default velocity motors off (they would fight the PD torques)."""
        cid = self.client
        for j in [-1] + self.links:
            pb.changeDynamics(self.body, j, linearDamping=0, angularDamping=0, physicsClientId=cid)
        for j, b in zip(self.actuated, self._is_ball):
            if b:
                pb.setJointMotorControlMultiDof(
                    self.body,
                    j,
                    pb.POSITION_CONTROL,
                    targetPosition=[0, 0, 0, 1],
                    targetVelocity=[0, 0, 0],
                    positionGain=0,
                    velocityGain=1,
                    force=[0, 0, 0],
                    physicsClientId=cid,
                )
            else:
                pb.setJointMotorControl2(self.body, j, pb.VELOCITY_CONTROL, force=0, physicsClientId=cid)

    # ----------------------------------------------------------------- control
    def step_stable_pd(self, targets, substeps: int, push=None):
        """Run ``substeps`` physics steps, issuing the stable-PD targets (per actuated joint: xyzw
        quaternion or [angle]) before each: pybullet consumes the command in one step. The hot
        loop of every control step, so functions and arguments are bound to locals once.

        ``push`` (optional): (force, point), world-frame 3-vectors, an external force on the root
        body at ``point``, re-applied before every physics step (pybullet clears external forces
        after each step)."""
        set_pd, step = self._set_pd, self._step
        if push is not None:
            self._step_pushed(targets, substeps, push)
            return
        body, joints, mode = self.body, self.actuated, pb.STABLE_PD_CONTROL
        vel, forces, kp, kd, cid = self.zero_vel, self.max_forces, self.kp, self.kd, self.client
        for _ in range(substeps):
            set_pd(
                body,
                joints,
                mode,
                targetPositions=targets,
                targetVelocities=vel,
                forces=forces,
                positionGains=kp,
                velocityGains=kd,
                physicsClientId=cid,
            )
            step(physicsClientId=cid)

    def _step_pushed(self, targets, substeps: int, push):
        cid, body = self.client, self.body
        force, point = (list(map(float, v)) for v in push)
        for _ in range(substeps):
            pb.applyExternalForce(body, 0, force, point, pb.WORLD_FRAME, physicsClientId=cid)
            self.step_stable_pd(targets, 1)

    # ----------------------------------------------------------------- state
    def query(self):
        """One batched query of every link's state into ``self.state`` [J, 27]; returns it.
        The columns are named in mimic.sim.link_state (``S[:, JOINT_POS]``, ...)."""
        ls = self._link_states(
            self.body, self.links, computeLinkVelocity=1, computeForwardKinematics=1, physicsClientId=self.client
        )
        if _flatten is not None and self.state.flags.c_contiguous:
            _flatten(ls, self.state)
        else:
            self.state[:] = np.fromiter(_chain(_chain(ls)), np.float64, len(self.links) * link_state.SIZE).reshape(
                -1, link_state.SIZE
            )
        return self.state

    def shift_root(self, dy: float):
        """Move the whole character up by dy, keeping every velocity (state arrays updated in
        place, no re-query)."""
        cid, body = self.client, self.body
        pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=cid)
        lin, ang = pb.getBaseVelocity(body, physicsClientId=cid)
        pb.resetBasePositionAndOrientation(body, [pos[0], pos[1] + dy, pos[2]], orn, physicsClientId=cid)
        # resetBasePositionAndOrientation zeroes the base's velocity: give it back
        pb.resetBaseVelocity(body, lin, ang, physicsClientId=cid)
        self.state[:, 1] += dy
        self.state[:, 15] += dy

    def set_state(self, root_pos, root_rot, local_rot, hinge, root_lin_vel=None, root_ang_vel=None, local_ang_vel=None):
        """Place the character: root pose (world), joint rotations (local, [J, 4] xyzw), hinge
        angles [J], and optionally velocities (root world; joints local, [J, 3])."""
        cid, body = self.client, self.body
        pb.resetBasePositionAndOrientation(body, list(root_pos), list(root_rot), physicsClientId=cid)
        lr = local_rot.tolist()
        hg = hinge.tolist()
        pos = [lr[j] if b else [hg[j]] for j, b in zip(self.actuated, self._is_ball)]
        if local_ang_vel is None:
            pb.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0], physicsClientId=cid)
            vel = self.zero_vel
        else:
            pb.resetBaseVelocity(body, list(root_lin_vel), list(root_ang_vel), physicsClientId=cid)
            av = local_ang_vel.tolist()
            vel = [av[j] if b else [av[j][2]] for j, b in zip(self.actuated, self._is_ball)]
        pb.resetJointStatesMultiDof(body, self.actuated, pos, vel, physicsClientId=cid)

    def touches_ground(self, mask: np.ndarray) -> bool:
        """True if any link with ``mask[link]`` set touches the ground."""
        for c in self._contacts(bodyA=self.body, bodyB=self.world.ground, physicsClientId=self.client):
            if c[3] >= 0 and mask[c[3]]:
                return True
        return False

    def ground_penetration(self) -> float:
        """How deep (m, >= 0) the character's deepest point lies inside the ground now; 0 without
        ground contact. The contact points of the last physics step, as touches_ground reads them."""
        depth = 0.0
        for c in self._contacts(bodyA=self.body, bodyB=self.world.ground, physicsClientId=self.client):
            depth = max(depth, -c[8])  # contactDistance: negative when penetrating
        return depth

    def remove(self):
        if self.world.client is not None:
            pb.removeBody(self.body, physicsClientId=self.client)
