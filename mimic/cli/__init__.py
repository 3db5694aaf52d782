"""What the small command-line scripts (import_clip, check_clip, export_bvh) share."""
from __future__ import annotations

import argparse


def doc_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """An argument parser whose description is the first paragraph of ``doc`` (a script's
    docstring) and whose epilog is the rest, printed as written."""
    parts = doc.split('\n\n')
    return argparse.ArgumentParser(prog=prog, description=parts[0],
                                   epilog='\n\n'.join(parts[1:]),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
