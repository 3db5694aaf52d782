"""DeepMimic-style argument files for ``mimic/train.py``: the parsing front end of mimic.config.

    python mimic/train.py --arg_file args/gym_cartpole.txt --seed 3 --actor_lr 1e-4

An args file holds ``--key value [value ...]`` entries (one per line by convention,
``#`` starts a comment, quotes work as in a shell).  Command-line entries override
the file.  Keys are the fields of mimic.config's sections (task, sampler, run) or
agent keys (every ``AWRConfig`` field, overriding the ``--agent_config`` YAML).
Everything is validated up front: an unknown key, a wrongly typed value or a missing
file (args file, agent config, dataset, record policy, motion/character) raises
``ArgError`` naming it, before any environment is stepped.  Clips and characters are
resolved by mimic.paths, the resolver the environments load them with.

Value syntax: scalars are YAML scalars (``1e-4``, ``true``, ``null``); list keys take
several values (``--actor_net_layers 1024 512``) or a YAML list, and so do keys that take
one value or a list (``--late_action_std 0.025 0.0125``); mapping keys take
an inline YAML mapping (``--env_kwargs {mode: train, dt: 0.01}``); boolean keys
may be given without a value (``--resume``).
"""

from __future__ import annotations

import os
import shlex
import typing
from typing import Any

import yaml

from mimic.config import SECTIONS, Settings, key_types, usage
from mimic.learning.config import AWRConfig, ConfigError, coerce
from mimic.paths import PACKAGE_DIR, AssetNotFound, resolve_character, resolve_motion

REPO_ROOT = str(PACKAGE_DIR.parent)  # args files and agent configs are named from here
__all__ = ["ArgError", "Settings", "parse_args", "read_arg_file", "resolve_path", "usage"]


class ArgError(ConfigError):
    """Bad argument: the message names the key or file."""


_KEY_TYPES = key_types()
_SECTION_OF = {k: s for s in SECTIONS for k in s.keys()}


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
    if typing.get_origin(tp) is typing.Union:  # X | list[X]: the list when given several or [...]
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        lists = [a for a in members if typing.get_origin(a) is list]
        several = len(values) > 1 or " ".join(values).strip().startswith("[")
        base = lists[0] if lists and (several or len(lists) == len(members)) else members[0]
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
def _collect(argv: list[str]) -> list[tuple[str, list[str], str]]:
    """The entries of the ``--arg_file`` (first) and the command line (after: it wins)."""
    cli = _entries([(t, "command line") for t in argv])
    entries: list[tuple[str, list[str], str]] = []
    for key, values, where in cli:
        if key == "arg_file":
            if len(values) != 1:
                raise ArgError(f"key 'arg_file' ({where}) expects one file")
            entries = read_arg_file(values[0]) + entries
    return entries + [e for e in cli if e[0] != "arg_file"]


def parse_args(argv: list[str]) -> Settings:
    """The validated :class:`~mimic.config.Settings` of ``argv`` (an ``ArgError`` names the culprit)."""
    given: dict[type, dict[str, Any]] = {s: {} for s in SECTIONS}
    agent_overrides: dict[str, Any] = {}
    for key, values, where in _collect(argv):
        if key == "arg_file":
            raise ArgError(f"key 'arg_file' ({where}) is only allowed on the command line")
        if key not in _KEY_TYPES:
            raise ArgError(f"unknown key '--{key}' ({where}); run `mimic-train --help` for the list of keys")
        value = convert(key, values, _KEY_TYPES[key], where)
        (given[_SECTION_OF[key]] if key in _SECTION_OF else agent_overrides)[key] = value
    try:
        task, sampler, run = (s.from_dict(given[s], source="command line / args file") for s in SECTIONS)
        settings = Settings(task=task, sampler=sampler, run=run, agent_overrides=agent_overrides)
        _check_files(settings)
        settings.agent = _agent_config(run.agent_config, agent_overrides)
        return settings.validate()
    except ArgError:
        raise
    except ConfigError as e:
        raise ArgError(str(e)) from None


def _agent_config(path, overrides: dict[str, Any]) -> AWRConfig:
    if path:
        return AWRConfig.from_yaml(path, overrides)
    return AWRConfig.from_dict(overrides, source="command line / args file")


def _existing(settings: Settings, key: str, what: str) -> None:
    """``run.<key>`` resolved to an existing file (cwd, else the repo root) or an ArgError."""
    value = getattr(settings.run, key)
    path = resolve_path(value)
    if not os.path.isfile(path):
        raise ArgError(f"{what} not found: {value} (key '{key}')")
    setattr(settings.run, key, path)


def _check_files(settings: Settings) -> None:
    """Every file the run reads exists; clips and characters resolve as loading resolves them."""
    r, task = settings.run, settings.task
    if r.agent_config:
        _existing(settings, "agent_config", "agent config file")
    if r.dataset:
        _existing(settings, "dataset", "dataset file")
    if r.record_dataset and r.record_policy != "random":
        _existing(settings, "record_policy", "record_policy checkpoint")
    for key, resolve in (("motion", resolve_motion), ("character", resolve_character)):
        if getattr(task, key):
            check_asset(key, getattr(task, key), resolve)


def check_asset(key: str, value: str, resolve=resolve_motion) -> None:
    """``value`` names a file ``resolve`` finds (mimic.paths, as the env loads it), or an
    ArgError with the resolver's own message and the key."""
    try:
        resolve(value)
    except AssetNotFound as e:
        raise ArgError(f"{e} (key '{key}')") from None
