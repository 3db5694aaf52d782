"""mimic: simulated characters learn motion-capture skills (DeepMimic on pybullet, trained with AWR).

Importing the package registers the Gymnasium environments:

* ``mimic/Humanoid-v0``: DeepMimic's humanoid imitating a clip (``motion=`` a name in motions/
  or a path to any DeepMimic-format file);
* ``mimic/Dog-v0``: DeepMimic's dog (same options; default ``dog_canter``; shipped dog clips:
  dog_canter, dog_trot, dog_pace, dog_turn; DeepMimic's dog3d_* files load by path).
"""

import gymnasium as gym

__version__ = "0.1.0"

for _id, _character, _motion in (
    ("mimic/Humanoid-v0", "humanoid", "humanoid3d_walk"),
    ("mimic/Dog-v0", "dog", "dog_canter"),
):
    if _id not in gym.registry:
        gym.register(
            id=_id,
            entry_point="mimic.envs.imitation:ImitationEnv",
            vector_entry_point="mimic.envs.imitation:ImitationVectorEnv",
            kwargs={"character": _character, **({"motion": _motion} if _motion else {})},
        )
