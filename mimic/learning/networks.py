"""Policy and value networks (plain MLPs on normalised observations).

Initialisation follows xbpeng/awr: Xavier-uniform hidden layers with zero bias,
actor output layer U(-0.01, 0.01) with zero bias, Xavier critic output.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def mlp(in_dim: int, layers: Sequence[int], activation: str = "relu") -> tuple[nn.Sequential, int]:
    modules: list[nn.Module] = []
    for size in layers:
        lin = nn.Linear(in_dim, size)
        nn.init.xavier_uniform_(lin.weight)
        nn.init.zeros_(lin.bias)
        modules += [lin, ACTIVATIONS[activation]()]
        in_dim = size
    return nn.Sequential(*modules), in_dim


def _uniform_head(in_dim: int, out_dim: int, scale: float) -> nn.Linear:
    head = nn.Linear(in_dim, out_dim)
    nn.init.uniform_(head.weight, -scale, scale)
    nn.init.zeros_(head.bias)
    return head


class GaussianActor(nn.Module):
    """pi(a|s) = N(mu(s), diag(action_std^2)), everything in NORMALISED action units; std is fixed."""

    discrete = False

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        layers: Sequence[int],
        activation: str = "relu",
        init_output_scale: float = 0.01,
        action_std: float = 0.2,
    ):
        super().__init__()
        self.trunk, h = mlp(obs_dim, layers, activation)
        self.head = _uniform_head(h, act_dim, init_output_scale)
        self.register_buffer("log_std", torch.full((act_dim,), math.log(action_std)))

    def forward(self, norm_obs: torch.Tensor) -> torch.Tensor:  # -> mean [n, act_dim]
        return self.head(self.trunk(norm_obs))

    def log_prob_from_output(self, mean: torch.Tensor, norm_actions: torch.Tensor) -> torch.Tensor:
        z = (norm_actions - mean) * torch.exp(-self.log_std)
        return -0.5 * (z * z).sum(-1) - self.log_std.sum() - 0.5 * mean.shape[-1] * math.log(2 * math.pi)

    def sample(self, norm_obs: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        mean = self.forward(norm_obs)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)  # a CPU generator
        return mean + torch.exp(self.log_std) * noise.to(mean.device)

    def mode(self, norm_obs: torch.Tensor) -> torch.Tensor:
        return self.forward(norm_obs)


class CategoricalActor(nn.Module):
    """pi(a|s) = Categorical(softmax(logits(s)))."""

    discrete = True

    def __init__(
        self,
        obs_dim: int,
        num_actions: int,
        layers: Sequence[int],
        activation: str = "relu",
        init_output_scale: float = 0.01,
    ):
        super().__init__()
        self.trunk, h = mlp(obs_dim, layers, activation)
        self.head = _uniform_head(h, num_actions, init_output_scale)

    def forward(self, norm_obs: torch.Tensor) -> torch.Tensor:  # -> logits [n, num_actions]
        return self.head(self.trunk(norm_obs))

    def log_prob_from_output(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(logits, -1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def sample(self, norm_obs: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        probs = F.softmax(self.forward(norm_obs), -1)
        if generator is not None and probs.device != generator.device:
            probs = probs.to(generator.device)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    def mode(self, norm_obs: torch.Tensor) -> torch.Tensor:
        return torch.argmax(self.forward(norm_obs), -1)


class Critic(nn.Module):
    """V(s) in NORMALISED value units (multiply by 1/(1-gamma) for returns)."""

    def __init__(self, obs_dim: int, layers: Sequence[int], activation: str = "relu"):
        super().__init__()
        self.trunk, h = mlp(obs_dim, layers, activation)
        self.head = nn.Linear(h, 1)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, norm_obs: torch.Tensor) -> torch.Tensor:  # -> [n]
        return self.head(self.trunk(norm_obs)).squeeze(-1)
