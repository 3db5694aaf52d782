"""DeepMimic-style argument files for ``mimic/train.py``.

    python mimic/train.py --arg_file args/gym_cartpole.txt --seed 3 --actor_lr 1e-4

An args file holds ``--key value [value ...]`` entries (one per line by convention,
``#`` starts a comment, quotes work as in a shell).  Command-line entries override
the file.  Keys are either RUN keys (below) or AGENT keys (every ``AWRConfig``
field, overriding the ``--agent_config`` YAML).  Everything is validated up front:
an unknown key, a wrongly typed value or a missing file (args file, agent config,
dataset, record policy, motion/character) raises ``ArgError`` naming it, before
any environment is stepped.

Value syntax: scalars are YAML scalars (``1e-4``, ``true``, ``null``); list keys take
several values (``--actor_net_layers 1024 512``) or a YAML list; mapping keys take
an inline YAML mapping (``--env_kwargs {mode: train, dt: 0.01}``); boolean keys
may be given without a value (``--resume``).
"""
from __future__ import annotations

import os
import shlex
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from mimic.learning.config import AWRConfig, ConfigError, coerce

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MOTION_ENV = "mimic/Humanoid-v0"


class ArgError(ConfigError):
    """Bad argument: the message names the key or file."""


# key: (type, default, help)
RUN_KEYS: dict[str, tuple[Any, Any, str]] = {
    "arg_file": (Optional[str], None, "args file with --key value lines (command line overrides it)"),
    "env": (Optional[str], None, f"Gymnasium id (default {DEFAULT_MOTION_ENV} when --motion is given)"),
    "env_kwargs": (dict, {}, "inline YAML mapping of extra gym.make kwargs, e.g. {mode: train}"),
    "test_env_kwargs": (dict, {}, "kwargs overriding env_kwargs for the test env, e.g. {mode: test}"),
    "motion": (Optional[str], None, "shortcut for env kwarg motion="),
    "character": (Optional[str], None, "shortcut for env kwarg character="),
    "agent_config": (Optional[str], None, "agent YAML (AWRConfig keys); inline agent keys override it"),
    "max_samples": (Optional[int], None, "stop after this many env samples"),
    "max_iters": (Optional[int], None, "stop after this many iterations (needed with --dataset)"),
    "seed": (int, 0, "seeds torch, numpy, python, env resets, action noise"),
    "output_dir": (str, "output/run", "log.csv, model.pt, model_XXXXXX.pt, learning_curve.png"),
    "resume": (bool, False, "continue from <output_dir>/model.pt if it exists"),
    "on_existing": (str, "refuse", "an output_dir holding a previous run: 'refuse', 'resume' (= --resume) or "
                                   "'move_aside' (renamed to <output_dir>.oldN); never overwritten"),
    "test_episodes": (int, 10, "deterministic test episodes per evaluation (0: none)"),
    "test_every": (int, 10, "evaluate every N iterations (and at the last one)"),
    "iters_per_checkpoint": (int, 50, "keep model_{iter:06d}.pt every N iterations"),
    "save_buffer": (bool, False, "store the replay buffer in model.pt (bit-identical resume with deterministic sampling)"),
    "plot_every": (int, 10, "refresh learning_curve.png every N iterations (0: never)"),
    "tensorboard": (bool, False, "also log to <output_dir>/tb (if tensorboard is installed)"),
    "verbose": (int, 1, "0: quiet, 1: one line per iteration"),
    "dataset": (Optional[str], None, "train fully off-policy from this dataset .npz (no env steps)"),
    "record_dataset": (Optional[str], None, "record a dataset to this .npz and exit"),
    "record_samples": (int, 100000, "samples to record (whole episodes)"),
    "record_policy": (str, "random", "'random' or a checkpoint .pt to record with"),
    "record_deterministic": (bool, False, "record with the mean action instead of sampling"),
    "num_workers": (Optional[int], None, "sampler worker processes (default: os.cpu_count(); 1: in-process "
                                         "SerialSampler)"),
    "envs_per_worker": (Optional[int], None, "envs per sampler worker (default: 16 = 2 pipelined vectorised groups "
                                             "of 8 if the id has a vector env, as mimic/*; else 1)"),
    "backend": (str, "mp", "sampler workers: 'mp' (multiprocessing) or 'ray' (pip install -e .[distributed])"),
    "ray_address": (Optional[str], None, "join a Ray cluster: 'auto' or HOST:PORT (default: local instance)"),
    "worker_timeout": (float, 60.0, "seconds without a reply before a sampler worker counts as hung"),
    "deterministic_sampling": (bool, False, "sampler workers step in lockstep rounds, so a run is reproducible "
                                            "from its seed (slower: workers wait for each other)"),
}
AGENT_KEYS = AWRConfig.keys()
assert not set(RUN_KEYS) & set(AGENT_KEYS)
_AGENT_HINTS = typing.get_type_hints(AWRConfig)


@dataclass
class Settings:
    run: dict[str, Any]
    agent: AWRConfig
    agent_overrides: dict[str, Any] = field(default_factory=dict)
    env_id: Optional[str] = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    test_env_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"run": dict(self.run), "agent": self.agent.to_dict(), "agent_overrides": dict(self.agent_overrides),
                "env_id": self.env_id, "env_kwargs": dict(self.env_kwargs),
                "test_env_kwargs": dict(self.test_env_kwargs)}


# ---------------------------------------------------------------------------------------
# tokenising
# ---------------------------------------------------------------------------------------
def _entries(tokens: list[tuple[str, str]]) -> list[tuple[str, list[str], str]]:
    """[(token, where)] -> [(key, [values], where)]"""
    out: list[tuple[str, list[str], str]] = []
    for tok, where in tokens:
        if tok.startswith("--") and len(tok) > 2:
            key, eq, val = tok[2:].partition("=")
            out.append((key, [val] if eq else [], where))
        elif not out:
            raise ArgError(f"{where}: value {tok!r} without a preceding --key")
        else:
            out[-1][1].append(tok)
    return out


def read_arg_file(path: str) -> list[tuple[str, list[str], str]]:
    resolved = resolve_path(path)
    if not os.path.isfile(resolved):
        raise ArgError(f"args file not found: {path}")
    tokens = []
    with open(resolved) as f:
        for lineno, line in enumerate(f, 1):
            try:
                toks = shlex.split(line, comments=True)
            except ValueError as e:
                raise ArgError(f"{path}:{lineno}: cannot parse line ({e})") from None
            tokens += [(t, f"{path}:{lineno}") for t in toks]
    return _entries(tokens)


def resolve_path(path: str) -> str:
    """As given if it exists (relative to cwd), else relative to the repo root, else as given."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    alt = os.path.join(REPO_ROOT, path)
    return alt if os.path.exists(alt) else path


# ---------------------------------------------------------------------------------------
# typing of values
# ---------------------------------------------------------------------------------------
def _yaml_scalar(s: str) -> Any:
    try:
        return yaml.safe_load(s)
    except yaml.YAMLError:
        return s


def convert(key: str, values: list[str], tp: Any, where: str) -> Any:
    base = tp
    if typing.get_origin(tp) is typing.Union:
        base = [a for a in typing.get_args(tp) if a is not type(None)][0]
    origin = typing.get_origin(base)
    try:
        if base is bool and not values:
            return True
        if base is dict or origin is dict:
            text = " ".join(values).strip()
            value = yaml.safe_load(text) if text else {}
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ArgError(f"key '{key}' ({where}) expects an inline YAML mapping like {{a: 1}}, got {text!r}")
            return value
        if origin is list:
            if not values:
                raise ArgError(f"key '{key}' ({where}) needs at least one value")
            joined = " ".join(values).strip()
            raw = _yaml_scalar(joined) if joined.startswith("[") else [_yaml_scalar(v) for v in values]
            return coerce(raw, tp, key, where)
        if len(values) != 1:
            raise ArgError(f"key '{key}' ({where}) expects one value, got {len(values)}: {values}")
        v = values[0]
        if base is str:
            raw = None if (tp is not str and v.lower() in ("none", "null", "~")) else v
            return coerce(raw, tp, key, where)
        return coerce(_yaml_scalar(v), tp, key, where)
    except ArgError:
        raise
    except (ConfigError, yaml.YAMLError) as e:
        raise ArgError(str(e)) from None


# ---------------------------------------------------------------------------------------
# parsing + validation
# ---------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> Settings:
    cli = _entries([(t, "command line") for t in argv])
    entries: list[tuple[str, list[str], str]] = []
    for key, values, where in cli:
        if key == "arg_file":
            if len(values) != 1:
                raise ArgError(f"key 'arg_file' ({where}) expects one file")
            entries = read_arg_file(values[0]) + entries   # the file goes first: the command line wins
    entries += [e for e in cli if e[0] != "arg_file"]

    run = {k: (v[1].copy() if isinstance(v[1], dict) else v[1]) for k, v in RUN_KEYS.items()}
    agent_overrides: dict[str, Any] = {}
    for key, values, where in entries:
        if key == "arg_file":
            raise ArgError(f"key 'arg_file' ({where}) is only allowed on the command line")
        if key in RUN_KEYS:
            run[key] = convert(key, values, RUN_KEYS[key][0], where)
        elif key in _AGENT_HINTS:
            agent_overrides[key] = convert(key, values, _AGENT_HINTS[key], where)
        else:
            raise ArgError(f"unknown key '--{key}' ({where}); run `mimic-train --help` for the list of keys")

    # ---- files must exist -------------------------------------------------------------
    if run["agent_config"]:
        path = resolve_path(run["agent_config"])
        if not os.path.isfile(path):
            raise ArgError(f"agent config file not found: {run['agent_config']} (key 'agent_config')")
        run["agent_config"] = path
    try:
        if run["agent_config"]:
            agent = AWRConfig.from_yaml(run["agent_config"], agent_overrides)
        else:
            agent = AWRConfig.from_dict(agent_overrides, source="command line / args file")
    except ArgError:
        raise
    except ConfigError as e:
        raise ArgError(str(e)) from None
    for key in ("dataset",):
        if run[key]:
            path = resolve_path(run[key])
            if not os.path.isfile(path):
                raise ArgError(f"{key} file not found: {run[key]} (key '{key}')")
            run[key] = path
    if run["record_dataset"] and run["record_policy"] != "random":
        path = resolve_path(run["record_policy"])
        if not os.path.isfile(path):
            raise ArgError(f"record_policy checkpoint not found: {run['record_policy']} (key 'record_policy')")
        run["record_policy"] = path
    for key, folder in (("motion", "motions"), ("character", "characters")):
        if run[key]:
            check_asset(key, run[key], folder)

    # ---- environment ----------------------------------------------------------------------
    env_id = run["env"] or (DEFAULT_MOTION_ENV if run["motion"] else None)
    if env_id is None and not run["dataset"]:
        raise ArgError("no environment: give --env <Gymnasium id> (or --motion for the imitation env)")
    env_kwargs = dict(run["env_kwargs"])
    for key in ("motion", "character"):
        if run[key]:
            env_kwargs[key] = run[key]
    test_env_kwargs = {**env_kwargs, **run["test_env_kwargs"]}

    # ---- stopping -----------------------------------------------------------------------------
    if not run["record_dataset"]:
        if run["dataset"] and run["max_iters"] is None:
            raise ArgError("training from --dataset needs --max_iters")
        if run["max_samples"] is None and run["max_iters"] is None:
            raise ArgError("give --max_samples (or --max_iters)")
    for key in ("test_episodes", "test_every", "iters_per_checkpoint", "plot_every", "record_samples"):
        if run[key] < 0:
            raise ArgError(f"key '{key}' must be >= 0, got {run[key]}")
    for key in ("num_workers", "envs_per_worker", "worker_timeout"):
        if run[key] is not None and not run[key] > 0:
            raise ArgError(f"key '{key}' must be > 0, got {run[key]}")
    if run["backend"] not in ("mp", "ray"):
        raise ArgError(f"key 'backend' must be 'mp' or 'ray', got {run['backend']!r}")
    return Settings(run=run, agent=agent, agent_overrides=agent_overrides, env_id=env_id,
                    env_kwargs=env_kwargs, test_env_kwargs=test_env_kwargs)


ASSET_EXTS = ("", ".txt", ".json", ".yaml", ".yml", ".npz", ".bvh", ".urdf", ".xml", ".pkl")


def check_asset(key: str, value: str, folder: str) -> None:
    """Fail early when a --motion / --character file clearly does not exist.

    Accepted: an existing path, or a file/dir named ``<value>[.ext]`` anywhere under
    ``<folder>/`` in the cwd or the repo root.
    If no ``<folder>`` directory exists at all the env is left to resolve the name.
    """
    if os.path.exists(resolve_path(value)):
        return
    dirs = [d for d in (os.path.join(os.getcwd(), folder), os.path.join(REPO_ROOT, folder)) if os.path.isdir(d)]
    if not dirs:
        return
    stem = os.path.splitext(os.path.basename(value))[0]
    for d in dirs:
        for ext in ASSET_EXTS:
            if os.path.exists(os.path.join(d, value + ext)):
                return
        for _, subdirs, files in os.walk(d):          # also motions/<group>/<name>.txt
            if any(os.path.splitext(f)[0] == stem for f in files + subdirs):
                return
    raise ArgError(f"{key} file not found: {value} (key '{key}'; looked in {', '.join(sorted(set(dirs)))})")


def usage() -> str:
    lines = ["usage: mimic-train --arg_file FILE [--key value ...]", "", "run keys:"]
    for k, (tp, default, text) in RUN_KEYS.items():
        lines.append(f"  --{k:<22} {text} [default: {default}]")
    lines += ["", "agent keys (override --agent_config YAML; defaults = AWRConfig):"]
    for k, v in AWRConfig().to_dict().items():
        lines.append(f"  --{k:<22} [default: {v}]")
    return "\n".join(lines)
