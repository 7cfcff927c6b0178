"""Chemical-space coverage of molecule samples: validity to earth mover's distance.

Build a ``MoleculeSet`` from the sampled SMILES once (it parses them and keeps the
fingerprints and scaffolds it computes), then call the metrics on it, or
``summarize`` for all of them as one table row. Rewards are per-sample arrays ``[N]``
aligned with the SMILES. ``reweighted_estimates`` tells what a composition's samples
should show, from samples of the mixture and the classifier's posteriors.
``benchmarks/metrics.py`` times every metric at 10^3 to 10^5 molecules.
"""

from .coverage import (
    novelty,
    number_of_scaffolds,
    scaffold_counts,
    scaffold_entropy,
    uniqueness,
    validity,
)
from .diversity import (
    DIVERSITY_SAMPLE_SIZE,
    MODE_SIMILARITY,
    internal_diversity,
    mean_pairwise_distance,
    number_of_modes,
    tanimoto_matrix,
    top_k_diversity,
)
from .molecules import ACYCLIC, N_BITS, RADIUS, MoleculeSet
from .reweighting import (
    composition_log_weights,
    effective_sample_size,
    reweighted_estimates,
    stratified_log_weights,
)
from .scores import TOP_K, cell_name, reward_cells, top_k, top_k_mean_reward
from .summary import summarize
from .transport import (
    EMD_SAMPLE_SIZE,
    MAX_TANIMOTO_DISTANCE,
    earth_movers_distance,
    tanimoto_ground_distance,
    transport_cost,
)

__all__ = [
    "ACYCLIC",
    "DIVERSITY_SAMPLE_SIZE",
    "EMD_SAMPLE_SIZE",
    "MAX_TANIMOTO_DISTANCE",
    "MODE_SIMILARITY",
    "N_BITS",
    "RADIUS",
    "TOP_K",
    "MoleculeSet",
    "cell_name",
    "composition_log_weights",
    "earth_movers_distance",
    "effective_sample_size",
    "internal_diversity",
    "mean_pairwise_distance",
    "novelty",
    "number_of_modes",
    "number_of_scaffolds",
    "reward_cells",
    "reweighted_estimates",
    "scaffold_counts",
    "scaffold_entropy",
    "stratified_log_weights",
    "summarize",
    "tanimoto_ground_distance",
    "tanimoto_matrix",
    "top_k",
    "top_k_diversity",
    "top_k_mean_reward",
    "transport_cost",
    "uniqueness",
    "validity",
]
