"""Gymnasium environments. ``import mimic`` registers them."""
from mimic.envs.imitation import ImitationEnv

__all__ = ['ImitationEnv']
