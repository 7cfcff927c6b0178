"""How much of chemical space a sample covers: validity, uniqueness, novelty, scaffolds.

Ratios follow MOSES (Polykovskiy et al., 2020): uniqueness is over valid samples,
novelty over distinct valid molecules. A ratio with an empty denominator is NaN.
"""

from __future__ import annotations

import math
from collections import Counter

from .molecules import MoleculeSet


def validity(molecules: MoleculeSet) -> float:
    """Fraction of the ``N`` samples whose SMILES RDKit parses and sanitizes, in ``[0, 1]``."""
    return molecules.n_valid / len(molecules) if len(molecules) else math.nan


def uniqueness(molecules: MoleculeSet) -> float:
    """Distinct canonical SMILES per valid sample, ``U / V`` in ``(0, 1]``: 1 when no
    molecule is sampled twice."""
    return len(molecules.unique) / molecules.n_valid if molecules.n_valid else math.nan


def novelty(molecules: MoleculeSet, reference: MoleculeSet) -> float:
    """Fraction of the distinct valid molecules absent from ``reference`` (compared by
    canonical SMILES; the reference's invalid SMILES are ignored), in ``[0, 1]``."""
    if not molecules.unique:
        return math.nan
    known = set(reference.unique)
    return sum(key not in known for key in molecules.unique) / len(molecules.unique)


def scaffold_counts(molecules: MoleculeSet) -> Counter[str]:
    """Number of valid samples per Bemis–Murcko scaffold (repeats counted, acyclic
    molecules under ``ACYCLIC``), most common first."""
    counts: Counter[str] = Counter()
    for scaffold, count in zip(molecules.scaffolds, molecules.counts, strict=True):
        counts[scaffold] += int(count)
    return Counter(dict(counts.most_common()))


def number_of_scaffolds(molecules: MoleculeSet) -> int:
    """Number of distinct Bemis–Murcko scaffolds among the valid samples (all acyclic
    molecules together count as one)."""
    return len(scaffold_counts(molecules))


def scaffold_entropy(molecules: MoleculeSet) -> float:
    """Shannon entropy in nats of the scaffold frequencies of the valid samples,
    ``-Σ_k f_k log f_k`` in ``[0, log(number_of_scaffolds)]``: 0 when every sample has
    one scaffold, ``log K`` when ``K`` scaffolds are equally frequent."""
    if not molecules.n_valid:
        return math.nan
    frequencies = [count / molecules.n_valid for count in scaffold_counts(molecules).values()]
    return sum(-f * math.log(f) for f in frequencies)
