"""The command-line front ends (mimic-train, mimic-view, mimic-eval, mimic-plot and the clip
scripts), and what they share. `python mimic/<script>.py` runs the module of the same name here."""

from __future__ import annotations

import argparse


def doc_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """An argument parser whose description is the first paragraph of ``doc`` (a script's
    docstring) and whose epilog is the rest, printed as written."""
    parts = doc.split("\n\n")
    return argparse.ArgumentParser(
        prog=prog,
        description=parts[0],
        epilog="\n\n".join(parts[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
