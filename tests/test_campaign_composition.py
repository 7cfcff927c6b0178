"""Acceptance: a small fragment campaign shows the composition effect in ``summary.json``.

Two bases trained once (QED, SA; β = 32, 600 steps), one classifier, then sampled
without retraining. The harmonic mean must put more samples in the jointly-high cell
(QED ≥ 0.6, SA ≥ 0.75) than either base and than their plain mixture, and each
contrast must put more samples than the mixture in its first base's high / second
base's low cell. The margin, 0.05 absolute, is about 1.7 binomial standard errors of
a fraction near 0.5 at 256 samples *per comparison side*, well below the measured
gaps (0.13 for the harmonic mean, 0.36 and 0.39 for the contrasts, with this seed).
The most expensive test of the suite (a few minutes on 2 CPU cores): it trains for real.
"""

from __future__ import annotations

import json

from conftest import qed_sa_campaign, write_campaign

from gfncompose.campaign import CampaignRunner, load_campaign

MARGIN = 0.05

CAMPAIGN = qed_sa_campaign(
    """
[training]
steps = 600
batch_size = 16
beta = 32.0
epsilon = 0.05
hidden = 128
num_layers = 2

[classifier]
steps = 600
batch_size = 16
hidden = 128
num_layers = 2

[sampling]
batch_size = 128
base_samples = 256

[compositions.mixture]
expr = "mixture(qed, sa)"
samples = 256
[compositions.both]
expr = "harmonic_mean(qed, sa)"
samples = 256
[compositions.qed_not_sa]
expr = "contrast(qed, sa)"
samples = 256
[compositions.sa_not_qed]
expr = "contrast(sa, qed)"
samples = 256

[report.thresholds]
qed = 0.6
sa = 0.75
""",
    seed=0,
    environment="max_fragments = 4",
)


def test_harmonic_mean_and_contrasts_move_mass_to_their_cells(tmp_path):
    path = write_campaign(tmp_path, CAMPAIGN)
    CampaignRunner(load_campaign(path, output=tmp_path / "out"), progress=False).run()
    sets = json.loads((tmp_path / "out" / "summary.json").read_text())["sets"]

    def cell(name: str, qed: str, sa: str) -> float:
        return sets[name][f"qed={qed},sa={sa}"]

    both_high = {name: cell(name, "high", "high") for name in sets}
    for other in ("qed", "sa", "mixture"):
        assert both_high["both"] > both_high[other] + MARGIN, both_high
    assert cell("qed_not_sa", "high", "low") > cell("mixture", "high", "low") + MARGIN
    assert cell("sa_not_qed", "low", "high") > cell("mixture", "low", "high") + MARGIN
