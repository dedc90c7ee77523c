"""Who speaks when, from one voice embedding per stretch of speech: agglomerative clustering.

Stretches long enough for a steady embedding are clustered with average linkage on cosine distance,
two groups joining while their stretches are on average closer than ``SAME_SPEAKER_DISTANCE``; so the
number of speakers comes from the voices, and one voice stays one speaker. Shorter stretches (a "yes",
a name) then join the speaker whose mean voice is nearest, rather than founding speakers of their own.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

# BENCHMARKS.md, "Speakers": at 0.25 each conversation of espeak-ng voices that differ (a man's, a woman's,
# a Klatt voice) gets its number of speakers and each one voice stays one; 0.30 merges two of three voices,
# and 0.20 split one voice in two on Whisper tiny.en's word times (shorter stretches) while tuning. Real
# voices are further apart than espeak-ng's, which share one synthesiser; two pitch variants of one
# espeak-ng voice (en-us, en-gb+m3) are one speaker to this model at any distance that keeps one voice whole.
SAME_SPEAKER_DISTANCE = 0.25


def speakers(embeddings: np.ndarray, steady: list[bool], *,
             distance: float = SAME_SPEAKER_DISTANCE) -> list[int]:
    """Each stretch's speaker, numbered 0, 1, ... in order of first appearance.

    ``embeddings`` are unit vectors, one row per stretch in time order; ``steady`` says which are long
    enough to be clustered on (when none is, all are).
    """
    if len(embeddings) == 0:
        return []
    core = [n for n, ok in enumerate(steady) if ok] or list(range(len(embeddings)))
    groups = (fcluster(linkage(embeddings[core], method="average", metric="cosine"), t=distance,
                       criterion="distance") - 1) if len(core) > 1 else np.zeros(1, dtype=int)
    centres = np.array([embeddings[core][groups == g].mean(axis=0) for g in range(groups.max() + 1)])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    found = dict(zip(core, groups.tolist()))
    labels = [found.get(n, int(np.argmax(centres @ e))) for n, e in enumerate(embeddings)]
    order: dict[int, int] = {}
    for label in labels:
        order.setdefault(label, len(order))
    return [order[label] for label in labels]
