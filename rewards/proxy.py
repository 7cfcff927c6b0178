"""A potency proxy trained on the user's assay, and the reward it gives.

Model: a random forest regressor on Morgan bit fingerprints (``max_features=1/3``,
Breiman's choice for regression). Chosen over gradient boosting because it has no
setting that matters much and fits fast, which is what a CLI default for an unseen
assay needs. Measured on the sEH ChEMBL export (2048 bits, two random 80/20 splits,
held-out R²): random forest 0.68 / 0.69 (300 trees, ~5 s on 2 cores; ``max_features``
1/3, all or sqrt all within 0.03); ``HistGradientBoostingRegressor`` defaults
0.67 / 0.72 (~6 s), tuned (learning rate 0.05, 500 rounds) 0.69 / 0.74 (~30 s). The
forest is as good as boosting with defaults and within ~0.04 of tuned boosting.

The model is evaluated on a random held-out split (duplicates are merged before
splitting, so no molecule is in both); the saved model is the one evaluated.

Reward: ``sigmoid((prediction - threshold) / scale)``, range ``(0, 1)``, higher is
more potent; a predicted pIC50 at the threshold scores 0.5, one ``scale`` above it
0.73, two above 0.88.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import sklearn
from rdkit import Chem, rdBase
from scipy.special import expit
from scipy.stats import spearmanr
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from ..errors import UserError
from .assay import AssayData
from .base import CachedReward
from .fingerprints import morgan_generator, morgan_matrix
from .params import as_float

PROXY_FORMAT = "gfncompose.proxy"
PROXY_VERSION = 1
COMPRESSION = 3
"""joblib zlib level: a 300-tree sEH forest shrinks from 38 MB to 8 MB; loading takes 0.2 s."""
TREES_PER_STEP = 25
"""Trees grown between progress-bar updates (each step still runs in parallel)."""


def sigmoid_reward(prediction: np.ndarray, threshold: float, scale: float) -> np.ndarray:
    """``1 / (1 + exp(-(prediction - threshold) / scale))``, float64 like ``prediction``."""
    return expit((np.asarray(prediction) - threshold) / scale)


@dataclass
class Proxy:
    """A fitted regressor with what is needed to use and trust it.

    Attributes:
        model: the fitted ``RandomForestRegressor``.
        metadata: fingerprint ``radius``/``n_bits``, ``smiles_col``, ``target_col``,
            reward ``threshold``/``scale``, held-out metrics and the training settings.
    """

    model: RandomForestRegressor
    metadata: dict

    def predict(self, mols: list[Chem.Mol]) -> np.ndarray:
        """Predicted target of ``B`` molecules: float64 ``[B]``, NaN for a molecule RDKit
        cannot fingerprint (e.g. one that was never sanitized)."""
        generator = morgan_generator(self.metadata["radius"], self.metadata["n_bits"])
        rows, valid = [], []
        with rdBase.BlockLogs():
            for index, mol in enumerate(mols):
                try:
                    rows.append(generator.GetFingerprintAsNumPy(mol))
                except RuntimeError:
                    continue
                valid.append(index)
        predictions = np.full(len(mols), math.nan)
        if rows:
            # One forest call for the batch: per-molecule calls are far slower.
            predictions[valid] = self.model.predict(np.stack(rows))
        return predictions

    def save(self, path: str | Path) -> None:
        """Write the proxy with joblib (a pickle: load only proxy files you trust)."""
        joblib.dump(
            {
                "format": PROXY_FORMAT,
                "version": PROXY_VERSION,
                "model": self.model,
                "metadata": self.metadata,
            },
            path,
            compress=COMPRESSION,
        )

    @classmethod
    def load(cls, path: str | Path) -> Proxy:
        """Read a proxy written by ``save``; ``UserError`` if the file is missing or not one."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such proxy file")
        try:
            content = joblib.load(path)
        except Exception as error:  # unpickling arbitrary bytes can raise almost anything
            raise UserError(f"{path}: not a gfncompose proxy file ({error})") from None
        if not isinstance(content, dict) or content.get("format") != PROXY_FORMAT:
            raise UserError(f"{path}: not a gfncompose proxy file (train one with `proxy train`)")
        if content.get("version") != PROXY_VERSION:
            raise UserError(
                f"{path}: proxy format version {content.get('version')!r}; this gfncompose "
                f"reads version {PROXY_VERSION}, retrain it with `proxy train`"
            )
        return cls(model=content["model"], metadata=content["metadata"])


def train_proxy(
    data: AssayData,
    *,
    radius: int = 2,
    n_bits: int = 2048,
    n_trees: int = 300,
    test_fraction: float = 0.2,
    seed: int = 0,
    threshold: float = 6.0,
    scale: float = 0.5,
    progress: bool = False,
) -> Proxy:
    """Fit a random forest on ``data`` and evaluate it on a held-out split.

    ``metadata`` records the held-out ``r2`` and ``spearman`` of the model and the
    ``r2`` of the mean predictor (the training mean; about 0), so the gain is explicit.
    """
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"the test fraction must be in (0, 1), got {test_fraction}")
    if math.ceil(len(data.smiles) * test_fraction) < 2 or len(data.smiles) < 5:
        raise UserError(
            f"{len(data.smiles)} molecules are too few to train and evaluate a proxy "
            f"with a test fraction of {test_fraction}"
        )
    as_float("threshold", threshold)
    as_float("scale", scale, positive=True)
    mols = [Chem.MolFromSmiles(smiles) for smiles in data.smiles]
    features = morgan_matrix(mols, radius, n_bits)
    x_train, x_test, y_train, y_test = train_test_split(
        features, data.targets, test_size=test_fraction, random_state=seed
    )
    model = RandomForestRegressor(
        n_estimators=0, max_features=1 / 3, n_jobs=-1, random_state=seed, warm_start=True
    )
    with tqdm(total=n_trees, desc="training trees", disable=not progress) as bar:
        while model.n_estimators < n_trees:
            step = min(TREES_PER_STEP, n_trees - model.n_estimators)
            model.set_params(n_estimators=model.n_estimators + step)
            model.fit(x_train, y_train)
            bar.update(step)
    predicted = model.predict(x_test)
    metadata = {
        "radius": radius,
        "n_bits": n_bits,
        "source": data.path,
        "smiles_col": data.smiles_col,
        "target_col": data.target_col,
        "relation_col": data.report.relation_col,
        "relations_kept": "=",
        "transform": "sigmoid((prediction - threshold) / scale)",
        "threshold": threshold,
        "scale": scale,
        "n_trees": n_trees,
        "seed": seed,
        "n_train": len(y_train),
        "n_test": len(y_test),
        "r2": float(r2_score(y_test, predicted)),
        "spearman": float(spearmanr(y_test, predicted).statistic),
        "mean_predictor_r2": float(r2_score(y_test, np.full_like(y_test, y_train.mean()))),
        "sklearn_version": sklearn.__version__,
    }
    return Proxy(model=model, metadata=metadata)


class ProxyReward(CachedReward):
    """``sigmoid((proxy prediction - threshold) / scale)``; range ``(0, 1)``, higher is
    more potent.

    Args:
        path: a proxy file written by ``gfncompose proxy train``.
        threshold: potency scoring 0.5, in target units; default: the file's.
        scale: potency change that moves the sigmoid by one logit; default: the file's.
    """

    kind = "proxy"
    # No process pool: the forest already predicts a batch with all CPUs (threads).

    def __init__(
        self, path: str, threshold: float | None = None, scale: float | None = None
    ) -> None:
        super().__init__()
        if not isinstance(path, str | Path):
            raise UserError(f"parameter 'path' must be a file name, got {path!r}")
        self.proxy = Proxy.load(path)
        threshold = self.proxy.metadata["threshold"] if threshold is None else threshold
        scale = self.proxy.metadata["scale"] if scale is None else scale
        self.threshold = as_float("threshold", threshold)
        self.scale = as_float("scale", scale, positive=True)

    def score_uncached(self, mols: list[Chem.Mol]) -> list[float]:
        predictions = self.proxy.predict(mols)
        return sigmoid_reward(predictions, self.threshold, self.scale).tolist()
