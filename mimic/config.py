"""The typed configuration of a ``mimic-train`` run.

An args file (and the command line, which overrides it) sets the keys of four sections:

* :class:`TaskConfig`: what is learnt (``--env``, its kwargs, the ``--motion`` / ``--character``
  shortcuts of the imitation envs);
* :class:`SamplerConfig`: how episodes are collected (``--num_workers``, ``--backend``, ...);
* :class:`RunConfig`: budgets, seed, output folder, logging and the dataset modes;
* ``AWRConfig`` (mimic.learning.config): the agent, from ``--agent_config`` and inline keys.

Each field is one args-file key of the same name, and its ``help`` metadata is the line
``mimic-train --help`` prints (:func:`usage`).  Values are typed by the field annotations
(``mimic.learning.config.coerce``) and each section's ``validate`` checks ranges and choices,
as ``AWRConfig.validate`` does; every error is a ``ConfigError`` naming the key.
:class:`Settings` holds the four sections and the checks that span them.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from mimic.learning.config import AWRConfig, ConfigError, coerce
from mimic.learning.run_folder import POLICIES as ON_EXISTING

DEFAULT_MOTION_ENV = "mimic/Humanoid-v0"
BACKENDS = ("mp", "ray")


def option(default: Any, help: str) -> Any:
    """A config field: its default (a fresh copy for mutable ones) and its help line."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


class Section:
    """What the sections share: keys, types, help, construction from a mapping, validation."""

    title: ClassVar[str] = ""

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config"):
        """A validated section from ``{key: value}``; values are coerced to the field types."""
        types = cls.types()
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise ConfigError(
                f"unknown {cls.title} key '{unknown[0]}' (in {source}); known keys: {', '.join(cls.keys())}"
            )
        return cls(**{k: coerce(v, types[k], k, source) for k, v in values.items()}).validate()

    def validate(self):
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _at_least(self, minimum: float, *keys: str, strict: bool = False) -> None:
        """Each of ``keys`` (None: unset, passes) is >= minimum (> with ``strict``)."""
        for key in keys:
            v = getattr(self, key)
            if v is not None and not (v > minimum if strict else v >= minimum):
                raise ConfigError(f"key '{key}' must be {'>' if strict else '>='} {minimum:g}, got {v}")

    def _one_of(self, key: str, allowed: tuple) -> None:
        if getattr(self, key) not in allowed:
            raise ConfigError(f"--{key} {getattr(self, key)!r}: must be one of {', '.join(allowed)}")


@dataclass
class TaskConfig(Section):
    """What is learnt: a Gymnasium id and its kwargs (the train and the test env)."""

    title: ClassVar[str] = "task"
    env: Optional[str] = option(None, f"Gymnasium id (default {DEFAULT_MOTION_ENV} when --motion is given)")
    env_kwargs: dict = option({}, "inline YAML mapping of extra gym.make kwargs, e.g. {mode: train}")
    test_env_kwargs: dict = option({}, "kwargs overriding env_kwargs for the test env, e.g. {mode: test}")
    motion: Optional[str] = option(None, "shortcut for env kwarg motion= (a clip name in motions/ or a path)")
    character: Optional[str] = option(None, "shortcut for env kwarg character= (a name in characters/ or a YAML path)")

    @property
    def env_id(self) -> Optional[str]:
        return self.env or (DEFAULT_MOTION_ENV if self.motion else None)

    @property
    def make_kwargs(self) -> dict[str, Any]:
        """The train env's ``gym.make`` kwargs: ``env_kwargs`` plus the motion / character."""
        kw = dict(self.env_kwargs)
        kw.update({k: getattr(self, k) for k in ("motion", "character") if getattr(self, k)})
        return kw

    @property
    def test_make_kwargs(self) -> dict[str, Any]:
        return {**self.make_kwargs, **self.test_env_kwargs}


@dataclass
class SamplerConfig(Section):
    """How episodes are collected: in-process, or by worker processes / Ray actors."""

    title: ClassVar[str] = "sampler"
    num_workers: Optional[int] = option(
        None, "sampler worker processes (default: os.cpu_count(); 1: in-process SerialSampler)"
    )
    envs_per_worker: Optional[int] = option(
        None,
        "envs per sampler worker (default: 16 = 2 pipelined "
        "vectorised groups of 8 if the id has a vector env, as "
        "mimic/*; else 1)",
    )
    backend: str = option("mp", "sampler workers: 'mp' (multiprocessing) or 'ray' (pip install -e .[distributed])")
    ray_address: Optional[str] = option(None, "join a Ray cluster: 'auto' or HOST:PORT (default: local instance)")
    worker_timeout: float = option(60.0, "seconds without a reply before a sampler worker counts as hung")
    deterministic_sampling: bool = option(
        False,
        "sampler workers step in lockstep rounds, so a run is "
        "reproducible from its seed (slower: workers wait for "
        "each other)",
    )

    def validate(self) -> "SamplerConfig":
        self._at_least(0, "num_workers", "envs_per_worker", "worker_timeout", strict=True)
        self._one_of("backend", BACKENDS)
        return self

    def workers(self, cpu_count: Optional[int]) -> int:
        """The worker count: ``num_workers``, else one per core."""
        return self.num_workers or cpu_count or 1

    def in_process(self, cpu_count: Optional[int]) -> bool:
        """Whether episodes are collected in the learner's process (one worker, no Ray)."""
        return self.workers(cpu_count) == 1 and self.backend != "ray"


@dataclass
class RunConfig(Section):
    """Budgets, seed, output folder, logging, and the dataset modes of one run."""

    title: ClassVar[str] = "run"
    agent_config: Optional[str] = option(None, "agent YAML (AWRConfig keys); inline agent keys override it")
    max_samples: Optional[int] = option(None, "stop after this many env samples")
    max_iters: Optional[int] = option(None, "stop after this many iterations (needed with --dataset)")
    seed: int = option(0, "seeds torch, numpy, python, env resets, action noise")
    output_dir: str = option("output/run", "log.csv, model.pt, model_XXXXXX.pt, learning_curve.png")
    resume: bool = option(False, "continue from <output_dir>/model.pt if it exists")
    on_existing: str = option(
        "refuse",
        "an output_dir holding a previous run: 'refuse', 'resume' (= --resume) "
        "or 'move_aside' (renamed to <output_dir>.oldN); never overwritten",
    )
    test_episodes: int = option(10, "deterministic test episodes per evaluation (0: none)")
    test_every: int = option(10, "evaluate every N iterations (and at the last one)")
    iters_per_checkpoint: int = option(50, "keep model_{iter:06d}.pt every N iterations")
    save_buffer: bool = option(
        False, "store the replay buffer in model.pt (bit-identical resume with deterministic sampling)"
    )
    plot_every: int = option(10, "refresh learning_curve.png every N iterations (0: never)")
    tensorboard: bool = option(False, "also log to <output_dir>/tb (if tensorboard is installed)")
    verbose: int = option(1, "0: quiet, 1: one line per iteration")
    dataset: Optional[str] = option(None, "train fully off-policy from this dataset .npz (no env steps)")
    record_dataset: Optional[str] = option(None, "record a dataset to this .npz and exit")
    record_samples: int = option(100000, "samples to record (whole episodes)")
    record_policy: str = option("random", "'random' or a checkpoint .pt to record with")
    record_deterministic: bool = option(False, "record with the mean action instead of sampling")

    def validate(self) -> "RunConfig":
        self._at_least(0, "test_episodes", "test_every", "iters_per_checkpoint", "plot_every", "record_samples")
        self._one_of("on_existing", ON_EXISTING)
        if self.resume and self.on_existing not in ("refuse", "resume"):
            raise ConfigError(f"--resume with --on_existing {self.on_existing}: choose one")
        return self

    @property
    def resuming(self) -> bool:
        return bool(self.resume or self.on_existing == "resume")


SECTIONS: tuple[type[Section], ...] = (TaskConfig, SamplerConfig, RunConfig)
assert not set(AWRConfig.keys()) & {k for s in SECTIONS for k in s.keys()}


def key_types() -> dict[str, Any]:
    """Every args-file key and its annotated type (the sections' and AWRConfig's)."""
    out = {k: t for s in SECTIONS for k, t in s.types().items()}
    out.update(typing.get_type_hints(AWRConfig))
    return out


@dataclass
class Settings:
    """One run's configuration: the three run sections and the agent."""

    task: TaskConfig = field(default_factory=TaskConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    run: RunConfig = field(default_factory=RunConfig)
    agent: AWRConfig = field(default_factory=AWRConfig)
    agent_overrides: dict[str, Any] = field(default_factory=dict)  # the agent keys given inline

    @property
    def env_id(self) -> Optional[str]:
        return self.task.env_id

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return self.task.make_kwargs

    @property
    def test_env_kwargs(self) -> dict[str, Any]:
        return self.task.test_make_kwargs

    def validate(self) -> "Settings":
        """The checks that span sections: an environment to learn, and a budget."""
        r = self.run
        if self.env_id is None and not r.dataset:
            raise ConfigError("no environment: give --env <Gymnasium id> (or --motion for the imitation env)")
        if not r.record_dataset:
            if r.dataset and r.max_iters is None:
                raise ConfigError("training from --dataset needs --max_iters")
            if r.max_samples is None and r.max_iters is None:
                raise ConfigError("give --max_samples (or --max_iters)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.to_dict(),
            "sampler": self.sampler.to_dict(),
            "run": self.run.to_dict(),
            "agent": self.agent.to_dict(),
            "agent_overrides": dict(self.agent_overrides),
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "test_env_kwargs": self.test_env_kwargs,
        }


def usage() -> str:
    """``mimic-train --help``: every key of every section, with its help line and default."""
    lines = [
        "usage: mimic-train --arg_file FILE [--key value ...]",
        "",
        "  --arg_file FILE          args file with --key value lines (command line overrides it)",
    ]
    for section in SECTIONS:
        lines += ["", f"{section.title} keys:"]
        for f in dataclasses.fields(section):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            lines.append(f"  --{f.name:<22} {f.metadata['help']} [default: {default}]")
    lines += ["", "agent keys (override --agent_config YAML; defaults = AWRConfig):"]
    for k, v in AWRConfig().to_dict().items():
        lines.append(f"  --{k:<22} [default: {v}]")
    return "\n".join(lines)
