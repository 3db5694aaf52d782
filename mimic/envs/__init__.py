"""Gymnasium environments. ``import mimic`` registers them."""

from mimic.envs.imitation import ImitationEnv, ImitationTask, ImitationVectorEnv

__all__ = ["ImitationEnv", "ImitationTask", "ImitationVectorEnv"]
