"""AWR hyper-parameters: one flat dataclass, loadable from YAML, strictly validated.

Every field can come from an agent YAML file (``--agent_config``) or from the
command line (``--actor_lr 1e-4``); unknown keys and wrongly typed values are
errors that name the key.

Defaults follow the AWR paper (Peng et al. 2019, App. C).  Where
the official implementation (github.com/xbpeng/awr, ``awr_configs.py``) differs
the field comment says so; the gym args files use the official values.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import yaml


class ConfigError(ValueError):
    """A bad configuration key / value / file.  The message names the culprit."""


@dataclass
class AWRConfig:
    # ---- networks -----------------------------------------------------------------
    actor_net_layers: list[int] = field(default_factory=lambda: [128, 64])
    critic_net_layers: list[int] = field(default_factory=lambda: [128, 64])
    activation: str = "relu"  # relu | tanh | elu
    actor_init_output_scale: float = 0.01  # U(-s, s) init of the actor output layer
    action_std: float = 0.2  # FIXED Gaussian std, in normalised action units
    # from late_action_std_samples samples on, the std is late_action_std (None: never) and the
    # actor's step is scaled by (late_action_std / action_std)^2, so that the regression moves the
    # mean the same fraction of the way to its weighted target (the log-likelihood's gradient
    # carries 1/std^2): fewer noise-made falls once training episodes are long. Lists of equal
    # length make several steps ([0.025, 0.0125] from [1800000, 13600000] samples on)
    late_action_std: Union[float, list[float], None] = None
    late_action_std_samples: Union[int, list[int]] = 0
    # DeepMimic's exploration rate: the share of collected actions drawn from the Gaussian, the
    # rest taken at its mean and left out of the actor's regression (and of the advantages'
    # standardisation). 1 before explore_prob_start_samples, linear to explore_prob at
    # explore_prob_end_samples, explore_prob after (DeepMimic: 0.2 at 64M from 0; AWR: always 1)
    explore_prob: float = 1.0
    explore_prob_start_samples: int = 0
    explore_prob_end_samples: int = 0

    # ---- optimisation -------------------------------------------------------------
    optimizer: str = "sgd"  # sgd (momentum, as the paper) | adam
    actor_lr: float = 5e-5
    critic_lr: float = 1e-4  # issue default; official code uses 0.01 (gym args files do)
    actor_momentum: float = 0.9  # SGD momentum (ignored by adam)
    critic_momentum: float = 0.9
    actor_batch_size: int = 256
    critic_batch_size: int = 256
    actor_steps: int = 1000  # gradient steps per iteration ...
    critic_steps: int = 200
    scale_steps: bool = True  # ... times new_samples / samples_per_iter (official code)

    # ---- returns ------------------------------------------------------------------
    discount: float = 0.99
    td_lambda: float = 0.95
    return_type: str = "td_lambda"  # td_lambda | mc (Monte-Carlo, = TD(1))

    # ---- data ---------------------------------------------------------------------
    samples_per_iter: int = 2048  # new env steps per iteration (whole episodes)
    buffer_size: int = 50000  # FIFO replay buffer, in samples
    on_policy: bool = False  # ablation: the buffer keeps only the last batch
    # a resume from a checkpoint without its buffer (policy-only, or saved without --save_buffer)
    # collects buffer_size samples with the restored policy before its first update, instead of
    # fitting the first few thousand samples with a full iteration's steps
    refill_before_update: bool = False
    normalizer_samples: int = 300000  # obs normaliser is estimated from the first N states
    obs_norm_min_std: float = 0.02  # std floor (DeepMimic/AWR Normalizer eps)
    obs_clip: Optional[float] = None  # clip normalised obs to +-obs_clip (None: no clip)

    # ---- sample weights -----------------------------------------------------------
    weighting: str = "awr"  # awr: exp(A/beta) | rwr: exp(R/beta) | bc: 1
    normalize_adv: bool = False  # standardise A (official code) before exp(.)
    temperature: Optional[float] = None  # beta; None -> 1.0 if normalize_adv else 0.05 (paper)
    weight_clip: float = 20.0  # omega_max
    adv_eps: float = 1e-5  # A_hat = (A - mean) / (std + adv_eps)

    # ---- policy regularisers ------------------------------------------------------
    action_bound_weight: float = 10.0  # 0.5 * sum violation^2 of normalised bounds by the mean
    action_l2_weight: float = 0.0  # 0.5 * |mean|^2 (|logits|^2 for discrete), official LunarLander 1e-3
    action_entropy_weight: float = 0.0  # discrete only (fixed-std Gaussian has constant entropy)

    # ---- runtime ------------------------------------------------------------------
    reuse_values: bool = True  # V of unchanged episodes kept between passes (values.py)
    schedule: str = "overlap"  # overlap: collect k+1 while update k runs | sync (the paper's)
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:N: where the update runs
    num_threads: int = 0  # torch threads for the update while sampling runs beside it (0: auto)
    idle_threads: int = 0  # torch threads when no sampling runs (0: every core)

    # -------------------------------------------------------------------------------
    @property
    def beta(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return 1.0 if self.normalize_adv else 0.05

    def validate(self) -> "AWRConfig":
        choices = {
            "activation": ("relu", "tanh", "elu"),
            "optimizer": ("sgd", "adam"),
            "return_type": ("td_lambda", "mc"),
            "weighting": ("awr", "rwr", "bc"),
            "schedule": ("overlap", "sync"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"agent config key '{key}': {getattr(self, key)!r} is not one of {allowed}")
        positive = [
            "action_std",
            "actor_lr",
            "critic_lr",
            "actor_batch_size",
            "critic_batch_size",
            "samples_per_iter",
            "buffer_size",
            "weight_clip",
        ]
        for key in positive:
            if not getattr(self, key) > 0:
                raise ConfigError(f"agent config key '{key}' must be > 0, got {getattr(self, key)!r}")
        for key in ("num_threads", "idle_threads"):
            if getattr(self, key) < 0:
                raise ConfigError(f"agent config key '{key}' must be >= 0 (0: automatic), got {getattr(self, key)!r}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"agent config key 'device': {self.device!r} is not one of auto, cpu, cuda, cuda:N")
        for key in ("discount", "td_lambda"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"agent config key '{key}' must be in [0, 1], got {getattr(self, key)!r}")
        self._validate_exploration()
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"agent config key 'temperature' must be > 0, got {self.temperature!r}")
        return self

    def std_schedule(self) -> list[tuple[int, float]]:
        """``late_action_std``'s steps as (from this many samples on, std), in sample order."""
        if self.late_action_std is None:
            return []
        stds, starts = _as_list(self.late_action_std), _as_list(self.late_action_std_samples)
        return list(zip(starts, stds))

    def _validate_exploration(self) -> None:
        stds, starts = _as_list(self.late_action_std), _as_list(self.late_action_std_samples)
        if self.late_action_std is not None and not (stds and all(std > 0 for std in stds)):
            raise ConfigError(f"agent config key 'late_action_std' must be > 0, got {self.late_action_std!r}")
        if self.late_action_std is not None and len(starts) != len(stds):
            raise ConfigError(
                f"agent config key 'late_action_std_samples' needs one sample count per late_action_std "
                f"({len(stds)}), got {self.late_action_std_samples!r}"
            )
        if any(n < 0 for n in starts) or starts != sorted(starts):
            raise ConfigError(
                f"agent config key 'late_action_std_samples' must be >= 0 and increasing, "
                f"got {self.late_action_std_samples!r}"
            )
        if self.explore_prob_start_samples < 0:
            raise ConfigError(
                f"agent config key 'explore_prob_start_samples' must be >= 0, got {self.explore_prob_start_samples!r}"
            )
        if not 0.0 < self.explore_prob <= 1.0:
            raise ConfigError(f"agent config key 'explore_prob' must be in (0, 1], got {self.explore_prob!r}")
        if self.explore_prob_end_samples < self.explore_prob_start_samples:
            raise ConfigError(
                f"agent config key 'explore_prob_end_samples' must be >= explore_prob_start_samples "
                f"({self.explore_prob_start_samples}), got {self.explore_prob_end_samples!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: Optional[dict[str, Any]] = None, source: str = "agent config") -> "AWRConfig":
        d = dict(d or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in d.items():
            if key not in fields:
                raise ConfigError(
                    f"unknown agent config key '{key}' (in {source}); known keys: {', '.join(sorted(fields))}"
                )
            kwargs[key] = coerce(value, hints[key], key, source)
        return cls(**kwargs).validate()

    @classmethod
    def from_yaml(cls, path: str, overrides: Optional[dict[str, Any]] = None) -> "AWRConfig":
        d = load_yaml_mapping(path, what="agent config")
        d.update(overrides or {})
        return cls.from_dict(d, source=path)


def load_yaml_mapping(path: str, what: str = "YAML file") -> dict[str, Any]:
    if not os.path.isfile(path):
        raise ConfigError(f"{what} file not found: {path}")
    with open(path) as f:
        try:
            d = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"{what} file {path} is not valid YAML: {e}") from None
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(f"{what} file {path} must contain a mapping, got {type(d).__name__}")
    return d


def _as_list(value: Any) -> list:
    """A scalar-or-list key's values as a list (None: empty)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str, source: str = "config") -> Any:
    """Check / convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``key``."""

    def fail():
        raise ConfigError(f"key '{key}' (in {source}) expects {_type_name(tp)}, got {value!r}")

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X], or X | list[X]: the first member the value fits
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            if type(None) in args:
                return None
            fail()
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return coerce(value, inner[0], key, source)
        scalars = [a for a in inner if typing.get_origin(a) not in (list, tuple)]
        lists = [a for a in inner if typing.get_origin(a) in (list, tuple)]
        for member in lists if isinstance(value, (list, tuple)) else scalars + lists:
            try:
                return coerce(value, member, key, source)
            except ConfigError:
                pass
        fail()
    if tp is Any:
        return value
    if origin in (list, tuple):
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            value = [value]  # "--actor_net_layers 64" -> [64]
        elem = args[0] if args else Any
        return [coerce(v, elem, key, source) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            fail()
        return dict(value)
    if tp in _SCALARS:
        out = _SCALARS[tp](value)
        if out is _INVALID:
            fail()
        return out
    return value


_INVALID = object()


def _to_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return _INVALID


def _to_int(value):
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return _INVALID
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)  # 5e7 in YAML is a float
    return _INVALID


def _to_float(value):
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return _INVALID
    return _INVALID


def _to_str(value):
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    return _INVALID


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}
