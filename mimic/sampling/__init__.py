"""mimic.sampling: experience collection for the learner, torch-free.

    from mimic.sampling import ParallelSampler, SerialSampler
    sampler = ParallelSampler("mimic/Humanoid-v0", {"motion": "humanoid3d_walk"}, num_workers=4, seed=0)
    episodes = sampler.collect(act_fn, min_samples=4096)     # list[Episode], whole episodes

Modules: ``episode`` (Episode, episode_seed), ``base`` (the Sampler interface), ``serial``
(in-process), ``parallel`` (worker processes or Ray actors; ``collection``: one collect and its
schedules), ``protocol`` (the wire format), ``transport`` (the learner's end of the pipes),
``mp_backend`` / ``ray_backend``, and the worker side: ``worker`` (the loop), ``env_group``,
``recorder``.  Nothing here imports torch, so worker processes never load it.
"""

from mimic.sampling.base import ActFn, Sampler
from mimic.sampling.collection import CollectStats
from mimic.sampling.episode import Episode, episode_seed
from mimic.sampling.errors import SamplerError
from mimic.sampling.parallel import ParallelSampler
from mimic.sampling.serial import SerialSampler, evaluate

__all__ = [
    "ActFn",
    "CollectStats",
    "Episode",
    "ParallelSampler",
    "Sampler",
    "SamplerError",
    "SerialSampler",
    "episode_seed",
    "evaluate",
]
