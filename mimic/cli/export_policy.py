"""Write a checkpoint's policy alone, for sharing or shipping:  python mimic/export_policy.py IN.pt OUT.pt

    python mimic/export_policy.py output/walk_relative/model.pt pretrained/humanoid_walk.pt

Keeps what acting, viewing and evaluating need (the actor and critic, the observation normaliser,
the spaces, the env and its settings, the counters) and drops the optimiser state, the RNG streams,
the sampler state and the replay buffer: a few MB instead of up to a few hundred. Tensors are
written for the CPU, so a policy trained on a GPU loads anywhere. The copy is written atomically
and is checked by loading it back; `mimic-view --model` and `mimic-eval --model` take it as they
take the full checkpoint, and `mimic-train --resume` from it continues with fresh optimiser momentum.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_parser():
    from mimic.cli import doc_parser

    p = doc_parser("export_policy", __doc__)
    p.add_argument("checkpoint", help="a mimic-train checkpoint (model.pt or model_NNNNNN.pt)")
    p.add_argument("out", help="where to write the policy-only checkpoint (.pt)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from mimic.preflight import PreflightError, check_checkpoint

    try:
        if os.path.realpath(args.checkpoint) == os.path.realpath(args.out):
            raise PreflightError(f"out '{args.out}': is the checkpoint itself; choose another path")
        if os.path.exists(args.out) and not args.force:
            raise PreflightError(f"out '{args.out}': exists (pass --force to overwrite it)")
        state = check_checkpoint(args.checkpoint, "checkpoint")
    except PreflightError as e:
        print(f"export_policy: error: {e}", file=sys.stderr)
        return 2
    from mimic.learning.checkpoint import atomic_save, policy_only

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_save(policy_only(state), args.out)
    check_checkpoint(args.out, "out")  # loads back as a checkpoint
    c = state.get("counters", {})
    size = os.path.getsize(args.out) / 1e6
    print(
        f"export_policy: {args.out}: {size:.1f} MB (from {os.path.getsize(args.checkpoint) / 1e6:.1f} MB), "
        f"{state.get('env_id')}, iteration {c.get('iteration')}, {c.get('total_samples')} samples"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
