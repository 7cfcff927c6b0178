"""The table of one sample set: canonical SMILES with every reward, posterior and scaffold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from ..rewards import Reward


def scaffold(mol: Chem.Mol | None) -> str:
    """Bemis–Murcko scaffold as canonical SMILES; ``""`` for an acyclic or invalid molecule."""
    if mol is None:
        return ""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol)


def sample_table(
    smiles: Sequence[str],
    label: str,
    rewards: Mapping[str, Reward],
    posterior: torch.Tensor,
    base_names: Sequence[str],
) -> pd.DataFrame:
    """One row per sample (repeats kept, in sampling order).

    Args:
        smiles: ``N`` canonical SMILES.
        label: the sample set's composition, e.g. ``"harmonic_mean(qed, sa, alpha=0.5)"``.
        rewards: every reward of the campaign (a column each, by label).
        posterior: ``[N, m]``, the classifier's ``p(i | x)`` over ``base_names``.

    Columns: ``smiles``, ``composition``, one per reward, ``posterior_NAME`` per base,
    ``valid`` (RDKit parses and sanitizes the SMILES) and ``scaffold``.
    """
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    table = pd.DataFrame({"smiles": list(smiles), "composition": label})
    for name, reward in rewards.items():
        table[name] = reward.score(mols)
    for i, name in enumerate(base_names):
        table[f"posterior_{name}"] = posterior[:, i].double().cpu().numpy()
    table["valid"] = [mol is not None for mol in mols]
    table["scaffold"] = [scaffold(mol) for mol in mols]
    return table
