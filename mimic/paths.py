"""Where mimic finds its shipped data (characters/, motions/, args/), and the one resolver of
clip and character names.

The data folders sit beside the package in the repository (install with ``pip install -e .``).
Set ``MIMIC_DATA`` to a folder holding ``characters/`` and ``motions/`` to use other data; the
resolvers read it at every call, so validation (mimic.cli.argfile, mimic.preflight) and loading
(mimic.envs.imitation, mimic.kinematics.character) always agree on which file a name means.
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get("MIMIC_DATA", PACKAGE_DIR.parent))
CHARACTERS_DIR = DATA_ROOT / "characters"
MOTIONS_DIR = DATA_ROOT / "motions"
ARGS_DIR = DATA_ROOT / "args"


class AssetNotFound(FileNotFoundError):
    """A clip or character name that resolves to no file; the message names it and where it
    was looked for."""


def data_root() -> Path:
    """``$MIMIC_DATA`` if set, else the repository beside the package."""
    return Path(os.environ.get("MIMIC_DATA") or PACKAGE_DIR.parent)


def resolve_motion(motion) -> Path:
    """A clip: a path to any DeepMimic-format file (relative to the working directory), or a
    name in ``<data>/motions/`` with or without ``.txt``."""
    p = Path(motion)
    if p.is_dir():
        raise AssetNotFound(f"motion '{motion}': a folder, not a clip file")
    if p.suffix and p.exists():
        return p
    motions = data_root() / "motions"
    for cand in (p, motions / p, motions / (p.name + ".txt")):
        if cand.is_file():
            return cand
    shipped = sorted(f.stem for f in motions.glob("*.txt"))
    raise AssetNotFound(
        f"motion '{motion}': no such file, and no clip of that name in {motions} "
        f"(shipped clips: {', '.join(shipped) or 'none'})"
    )


def resolve_character(character) -> Path:
    """A character's YAML: a path to a ``.yaml`` / ``.yml`` file, or a name in
    ``<data>/characters/`` (``humanoid`` -> ``characters/humanoid.yaml``)."""
    p = Path(character)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    characters = data_root() / "characters"
    meta = characters / f"{p.name}.yaml"
    if not meta.is_file():
        known = sorted(f.stem for f in characters.glob("*.yaml"))
        raise AssetNotFound(f"character '{character}': no {meta} (known characters: {', '.join(known) or 'none'})")
    return meta
