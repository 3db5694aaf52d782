"""Where mimic finds its shipped data (characters/, motions/, args/).

The data folders sit beside the package in the repository (install with ``pip install -e .``).
Set ``MIMIC_DATA`` to a folder holding ``characters/`` and ``motions/`` to use other data.
"""
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get('MIMIC_DATA', PACKAGE_DIR.parent))
CHARACTERS_DIR = DATA_ROOT / 'characters'
MOTIONS_DIR = DATA_ROOT / 'motions'
ARGS_DIR = DATA_ROOT / 'args'


def resolve_motion(motion) -> Path:
    """A clip name in motions/ (with or without .txt) or a path to any DeepMimic-format file."""
    p = Path(motion)
    if p.is_dir():
        raise FileNotFoundError(f"motion '{motion}': a folder, not a clip file")
    if p.suffix and p.exists():
        return p
    for cand in (p, MOTIONS_DIR / p, MOTIONS_DIR / (p.name + '.txt')):
        if cand.is_file():
            return cand
    shipped = sorted(f.stem for f in MOTIONS_DIR.glob('*.txt'))
    raise FileNotFoundError(
        f"motion '{motion}': no such file, and no clip of that name in {MOTIONS_DIR} "
        f"(shipped clips: {', '.join(shipped) or 'none'})")
