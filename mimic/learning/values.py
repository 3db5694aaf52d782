"""V(s) of the buffered episodes, kept between the two value passes of consecutive iterations.

Each iteration evaluates the critic over the whole buffer twice: for the TD(lambda) targets
(with the previous V) and, after fitting V, for the advantages.  Between iteration k's second
pass and iteration k+1's first, neither the critic nor -- once the normaliser has seen its
``normalizer_samples`` -- the normalised states change, so the values of every episode still
in the buffer are the same numbers: only the new episodes need the critic, so the first pass
shrinks from the whole buffer to the new samples.

Entries are keyed by (critic steps, normaliser count); any other key recomputes everything.
Recomputed values can differ from cached ones in the last bit (a GEMM's kernel depends on the
batch size), so the cache is part of a checkpoint that saves the buffer: a resumed run then
reproduces an uninterrupted one bit for bit.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Optional, Sequence

import numpy as np
import torch

Evaluate = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class ValueCache:
    def __init__(self) -> None:
        self.key: Optional[Hashable] = None
        self._entries: dict[int, tuple[Any, np.ndarray, float]] = {}  # id(episode) -> (episode, V, V(s_T))

    def values(
        self, episodes: Sequence[Any], end_index: np.ndarray, key: Hashable, evaluate: Evaluate
    ) -> tuple[np.ndarray, np.ndarray]:
        """(V [N], V(s_T) [E]) for ``episodes`` laid out flat (episode e ends at row end_index[e]).

        ``evaluate(rows, eps)`` returns V of the flat ``rows`` and V(s_T) of episodes ``eps``.
        """
        lengths = np.array([len(e) for e in episodes])
        starts = end_index - lengths + 1
        hit = self._lookup(episodes, key)
        values = np.empty(int(lengths.sum()))
        finals = np.empty(len(episodes))
        miss = np.flatnonzero(~hit)
        if len(miss):
            rows = _ranges(starts[miss], lengths[miss])
            values[rows], finals[miss] = evaluate(rows, miss)
        for e in np.flatnonzero(hit):
            _, v, f = self._entries[id(episodes[e])]
            values[starts[e] : end_index[e] + 1] = v
            finals[e] = f
        self._store(episodes, starts, end_index, key, values, finals)
        return values, finals

    def _lookup(self, episodes: Sequence[Any], key: Hashable) -> np.ndarray:
        if key != self.key:
            return np.zeros(len(episodes), bool)
        entries = self._entries
        return np.array([id(e) in entries and entries[id(e)][0] is e for e in episodes], bool)

    def _store(self, episodes, starts, end_index, key, values, finals) -> None:
        self.key = key
        self._entries = {
            id(ep): (ep, values[s : t + 1], float(f)) for ep, s, t, f in zip(episodes, starts, end_index, finals)
        }

    # ---- checkpoints (with the buffer: the same episodes, in the same order) -------------------
    def state_dict(self, episodes: Sequence[Any]) -> Optional[dict[str, Any]]:
        if self.key is None or not all(id(e) in self._entries for e in episodes):
            return None
        rows = [self._entries[id(e)] for e in episodes]
        return {
            "key": list(self.key),
            "values": torch.from_numpy(np.concatenate([r[1] for r in rows]) if rows else np.zeros(0)),
            "finals": torch.tensor([r[2] for r in rows], dtype=torch.float64),
        }

    def load_state_dict(self, s: Optional[dict[str, Any]], episodes: Sequence[Any]) -> None:
        self.key, self._entries = None, {}
        if not s:
            return
        lengths = np.array([len(e) for e in episodes], dtype=np.int64)
        end_index = np.cumsum(lengths) - 1
        values = s["values"].numpy().copy()
        if len(values) != lengths.sum() or len(s["finals"]) != len(episodes):
            return  # another buffer: recompute
        self._store(episodes, end_index - lengths + 1, end_index, tuple(s["key"]), values, s["finals"].numpy())


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [s, s + n) for each (s, n)."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total) + offsets
