"""Where training episodes start on the clip: DeepMimic's uniform draw, or an adaptive one.

DeepMimic's reference-state initialisation draws the start time uniformly over the clip. Where a
clip has one hard moment (the spinkick's landing), most of those starts fall where the policy
already copes, and few just before the part it fails. :class:`AdaptiveStarts` draws them in
proportion to how often episodes starting there have fallen lately, spread back in time by a
decaying kernel so that the phases leading into a hard moment are drawn too, and mixed with the
uniform draw so that no phase is ever left out. The idea is BeyondMimic's adaptive sampling (Liao
et al. 2025, "BeyondMimic: From Motion Tracking to Versatile Humanoid Control via Guided
Diffusion", section III-D); the bin width, rates and kernel here are this module's own choices.

Each env keeps its own statistics, from its own episodes: a sampler worker's draw follows that
worker's falls, so a run's draws depend on how its envs are spread over workers (fixed for a given
``--num_workers``), and the statistics are not checkpointed: a resumed run or a restarted worker
starts them from the uniform draw again. They rebuild within a few iterations (``rate`` 0.05 per
episode, a few hundred episodes an iteration at 0.5 s episodes).

Pure numpy: it knows start times, clip durations and falls, nothing of the physics.
"""

from __future__ import annotations

import math

import numpy as np

START_SAMPLING = ("uniform", "adaptive")


class AdaptiveStarts:
    """Start times over a clip of ``duration`` seconds, drawn by recent failure.

    The clip is cut into bins of ``bin_width`` seconds. ``fail[b]`` is an exponential moving
    average (step ``rate`` per episode) of whether episodes that started in bin b fell. A bin's
    weight is ``sum_u decay**u * fail[b + u]`` over the next ``lookahead`` seconds of bins
    (wrapping round a looping clip), and the draw is that, normalised, mixed with the uniform one
    at ``uniform`` (the fraction of starts that stay uniform). Until an episode has fallen the
    draw is uniform."""

    def __init__(
        self,
        duration: float,
        loop: bool,
        bin_width: float = 0.1,
        rate: float = 0.05,
        lookahead: float = 0.5,
        decay: float = 0.8,
        uniform: float = 0.2,
    ):
        if not duration > 0:
            raise ValueError(f"clip duration must be > 0, not {duration!r}")
        if not 0.0 < uniform <= 1.0:
            raise ValueError(f"uniform must be in (0, 1], not {uniform!r}")
        self.duration, self.loop = float(duration), bool(loop)
        self.bins = max(1, math.ceil(self.duration / bin_width - 1e-9))
        self.rate, self.decay, self.uniform = float(rate), float(decay), float(uniform)
        self.span = max(1, round(lookahead / bin_width))
        self.fail = np.zeros(self.bins)
        self._p = np.full(self.bins, 1.0 / self.bins)

    def bin_of(self, t: float) -> int:
        """The bin of clip time ``t`` (looping clips wrap; others clamp to the last bin)."""
        s = (t % self.duration) if self.loop else min(max(t, 0.0), self.duration)
        return min(self.bins - 1, int(s / self.duration * self.bins))

    def record(self, start: float, fell: bool) -> None:
        """An episode that started at clip time ``start`` ended, by a fall or not."""
        b = self.bin_of(start)
        self.fail[b] += self.rate * (float(fell) - self.fail[b])
        self._p = self._weights()

    def probabilities(self) -> np.ndarray:
        """The draw's probability of each bin (a copy)."""
        return self._p.copy()

    def sample(self, rng: np.random.Generator) -> float:
        """A start time: a bin by :meth:`probabilities`, then uniform within it."""
        b = int(rng.choice(self.bins, p=self._p))
        return (b + rng.uniform()) * self.duration / self.bins

    def _weights(self) -> np.ndarray:
        ahead = np.zeros(self.bins)
        for u in range(self.span):
            if self.loop:
                ahead += self.decay**u * np.roll(self.fail, -u)
            elif u < self.bins:
                ahead[: self.bins - u] += self.decay**u * self.fail[u:]
        uniform = np.full(self.bins, 1.0 / self.bins)
        total = ahead.sum()
        if total <= 0.0:
            return uniform
        return (1.0 - self.uniform) * ahead / total + self.uniform * uniform
