"""The compiled fast path of the environment's per-step work, and the switch to its numpy twin.

``mimic/envs/_kernels.c`` does what reward.py, observation.py and action.py do -- same formulas,
same order -- in one C call instead of about a hundred numpy calls, whose fixed per-call cost,
not the arithmetic, bounds the numpy path (bench/env_speed.py measures both). It is built at
install time as an optional extension; when it is missing (no C compiler) or
``MIMIC_NUMPY_KERNELS=1`` is set, the environment runs the numpy modules instead.
tests/test_kernels.py checks that both paths agree on real simulated states.
"""

from __future__ import annotations

import numpy as np

from mimic import compiled
from mimic.envs.action import ActionMap
from mimic.envs.observation import ObservationBuilder
from mimic.envs.reward import ImitationReward
from mimic.kinematics.reference import ReferenceMotion

try:
    if not compiled.wanted():
        raise ImportError(f"{compiled.SWITCH} is set")
    from mimic.envs import _kernels

    UNAVAILABLE_REASON = None
except ImportError as e:  # not built (no compiler at install time) or switched off
    _kernels = None
    UNAVAILABLE_REASON = str(e)


def available() -> bool:
    return _kernels is not None


class CompiledImitation:
    """Heading frames, reward and observation of K characters in one compiled call.

    ``__call__(S_ext [K, J + 1, 27], ref ReferenceBatch, ref_root [K, 3], obs float32 [K, D],
    terms [K, 5], reward [K])`` writes the outputs in place, exactly what
    ``ImitationReward`` and ``ObservationBuilder`` (with ``heading_frames``) return.
    """

    def __init__(self, reward: ImitationReward, observer: ObservationBuilder, reference: ReferenceMotion):
        if _kernels is None:
            raise RuntimeError(f"the compiled kernels are unavailable: {UNAVAILABLE_REASON}")
        J = reward.J
        offsets, o = {}, 0
        for name, shape in reference.layout:
            offsets[name] = o
            o += int(np.prod(shape))
        names = ("local_rot", "local_ang_vel", "root_lin_vel", "ee_rel", "com_vel")
        self.iparams = np.array(
            [J, len(reward.ee), o] + [offsets[n] for n in names] + list(reward.parent_ext) + list(reward.ee),
            dtype=np.int32,
        )
        self.dparams = np.concatenate(
            [reward.joint_w, reward.mass_frac, reward.root_com_offset, reward.weights, reward.scales]
        ).astype(np.float64)
        self.obs_size = observer.quat_size
        self._run = _kernels.imitation

    def __call__(self, S_ext, ref, ref_root, obs, terms, reward):
        self._run(S_ext, ref.buf, ref_root, ref.phase, self.iparams, self.dparams, obs, terms, reward)


class CompiledActionMap:
    """``ActionMap.to_targets`` in one compiled call."""

    def __init__(self, action_map: ActionMap):
        if _kernels is None:
            raise RuntimeError(f"the compiled kernels are unavailable: {UNAVAILABLE_REASON}")
        self.low = np.ascontiguousarray(action_map.low, dtype=np.float64)
        self.high = np.ascontiguousarray(action_map.high, dtype=np.float64)
        layout = []
        for kind, i in action_map.layout:
            col = action_map.ball_angle[i] if kind == "ball" else action_map.hinge[i]
            layout += [1 if kind == "ball" else 0, int(col)]
        self.layout = np.array(layout, dtype=np.int32)
        self._run = _kernels.pd_targets

    def to_targets(self, actions) -> list:
        """actions: K * size floats in any shape ([K, size], or [size] for one character)."""
        return self._run(np.ascontiguousarray(actions, dtype=np.float64), self.low, self.high, self.layout)
