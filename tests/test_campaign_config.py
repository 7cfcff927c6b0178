"""Campaign files: the shipped default is valid, and every mistake is named by its key path."""

from __future__ import annotations

import pytest
from conftest import qed_sa_campaign, write_campaign

from gfncompose import compose, contrast, harmonic_mean, mixture
from gfncompose.campaign import load_campaign
from gfncompose.campaign.expressions import parse_composition
from gfncompose.errors import UserError

MINIMAL = qed_sa_campaign(
    """
[compositions.both]
expr = "harmonic_mean(qed, sa)"
""",
    environment="max_fragments = 3",
    sa_base="steps = 7",
)


def test_default_campaign_is_valid_and_uses_fragments():
    campaign = load_campaign()
    assert campaign.environment["kind"] == "fragments"
    assert len(campaign.bases) >= 2
    labels = {spec.composition.label for spec in campaign.compositions.values()}
    assert "harmonic_mean(qed, sa, alpha=0.5)" in labels
    assert campaign.baseline is not None and campaign.baseline.rewards == ("qed", "sa")


def test_minimal_campaign_fills_defaults_and_budget_scales_steps_and_samples(tmp_path):
    path = write_campaign(tmp_path, MINIMAL)
    campaign = load_campaign(path)
    assert campaign.bases["sa"].train.steps == 7
    assert campaign.bases["qed"].train.steps == 2000  # TrainConfig's default
    assert campaign.compositions["both"].composition == harmonic_mean("qed", "sa")
    assert campaign.thresholds == {"qed": 0.5, "sa": 0.5}
    doubled = load_campaign(path, budget=2)
    assert doubled.bases["sa"].train.steps == 14
    assert doubled.compositions["both"].samples == 2 * campaign.compositions["both"].samples


def test_fingerprint_changes_with_a_base_config_and_only_that_base(tmp_path):
    before = load_campaign(write_campaign(tmp_path, MINIMAL))
    after = load_campaign(write_campaign(tmp_path, MINIMAL.replace("steps = 7", "steps = 8")))
    assert before.fingerprint("base:qed") == after.fingerprint("base:qed")
    assert before.fingerprint("base:sa") != after.fingerprint("base:sa")
    assert before.fingerprint("classifier") != after.fingerprint("classifier")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("max_fragments = 3", "max_fragmnts = 3"),
            "[environment] max_fragmnts: unknown key; valid keys: kind, max_fragments, vocabulary",
        ),
        (('kind = "fragments"', 'kind = "graphs"'), "unknown environment 'graphs'"),
        (("[rewards.sa]", "[rewards.sa]\nkind = 'sas'"), "unknown reward 'sas'"),
        (("[rewards.sa]", "[rewards.sa]\nlo = 1"), "unknown parameter 'lo'"),
        (('rewards = ["sa"]', 'rewards = ["logp"]'), "[bases.sa] rewards: reward 'logp'"),
        (("steps = 7", "steps = 'many'"), "[bases.sa] steps: expected an integer"),
        (("steps = 7", "steps = 0"), "[bases.sa] steps: must be positive"),
        (("steps = 7", "epsilon = 1.5"), "[bases.sa] epsilon: must lie in [0, 1)"),
        (("steps = 7", "sampling_processes = -1"), "[bases.sa] sampling_processes: must be 0 or"),
        (
            ("[compositions.both]", "[sampling]\nprocesses = -2\n[compositions.both]"),
            "[sampling] processes: must be 0 or more, got -2",
        ),
        (("harmonic_mean(qed, sa)", "harmonic_mean(qed, logp)"), "base 'logp' is not defined"),
        (("harmonic_mean(qed, sa)", "contrast(qed, sa, alpha=1.5)"), "alpha must lie strictly"),
        (("harmonic_mean(qed, sa)", "product(qed, sa)"), "unknown composition 'product'"),
        (("harmonic_mean(qed, sa)", "harmonic_mean(qed,"), "cannot read"),
        (("[compositions.both]", "[compositions.qed]"), "'qed' names a base"),
    ],
)
def test_mistakes_are_reported_with_their_key_path(tmp_path, edit, message):
    old, new = edit
    assert old in MINIMAL
    with pytest.raises(UserError) as error:
        load_campaign(write_campaign(tmp_path, MINIMAL.replace(old, new, 1)))
    assert message in str(error.value)
    assert str(tmp_path / "campaign.toml") in str(error.value)


def test_missing_file_unknown_top_level_key_and_bad_toml(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_campaign(tmp_path / "nope.toml")
    with pytest.raises(UserError, match="top level sed: unknown key"):
        load_campaign(write_campaign(tmp_path, "sed = 1\n" + MINIMAL))
    with pytest.raises(UserError, match="not valid TOML"):
        load_campaign(write_campaign(tmp_path, "[environment\n"))
    with pytest.raises(UserError, match=r"\[bases\]: a campaign needs at least two bases"):
        load_campaign(write_campaign(tmp_path, MINIMAL.replace('[bases.sa]\nrewards = ["sa"]', "")))


def test_vocabulary_path_is_relative_to_the_campaign_file(tmp_path):
    text = MINIMAL.replace("max_fragments = 3", 'vocabulary = "frags.csv"')
    with pytest.raises(UserError, match="vocabulary: file .*frags.csv does not exist"):
        load_campaign(write_campaign(tmp_path, text))
    (tmp_path / "frags.csv").write_text("smiles\n*c1ccccc1\n")
    campaign = load_campaign(write_campaign(tmp_path, text))
    assert campaign.environment["vocabulary"] == str(tmp_path / "frags.csv")


def test_fingerprints_follow_a_files_content_not_its_folder(tmp_path):
    """The same campaign run from another folder reuses its work; an edited file does not."""
    text = MINIMAL.replace("max_fragments = 3", 'vocabulary = "frags.csv"')
    prints = {}
    for folder, fragments in (("a", "*c1ccccc1"), ("b", "*c1ccccc1"), ("c", "*c1ccncc1")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "frags.csv").write_text(f"smiles\n{fragments}\n")
        campaign = load_campaign(write_campaign(tmp_path / folder, text))
        prints[folder] = [campaign.fingerprint(w) for w in ("base:qed", "classifier")]
    assert prints["a"] == prints["b"]
    assert all(x != y for x, y in zip(prints["a"], prints["c"], strict=True))


BASES = ("qed", "sa", "mw")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("harmonic_mean(qed, sa)", harmonic_mean("qed", "sa")),
        ("harmonic_mean('qed', 'sa', alpha=0.3)", harmonic_mean("qed", "sa", alpha=0.3)),
        ("contrast(sa, qed, alpha=0.05)", contrast("sa", "qed", alpha=0.05)),
        ("mixture(qed, sa, mw)", mixture("qed", "sa", "mw")),
        ("compose(y=[qed, sa, mw])", compose(y=("qed", "sa", "mw"))),
        (
            "compose(y=[qed, qed], weights=[{qed: 1, sa: 1}, [1, 3]], bases=[qed, sa])",
            compose(y=("qed", "qed"), weights=[{"qed": 1, "sa": 1}, [1, 3]], bases=("qed", "sa")),
        ),
        (
            "compose(y=[qed], bases=[qed, sa, mw])",
            compose(y=("qed",), bases=("qed", "sa", "mw")),
        ),
    ],
)
def test_expressions_build_the_same_composition_as_the_python_api(text, expected):
    assert parse_composition(text, BASES, "here") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown composition '__import__'"),
        ("harmonic_mean(qed, sa, beta=2)", "takes two bases and optionally alpha"),
        ("harmonic_mean(qed, 3)", "expected a base name"),
        ("compose(y=[qed], weights=[[0, 1]], bases=[qed, sa])", "gives the observed base"),
        ("mixture(qed, alpha=0.5)", "mixture takes only base names"),
        ("qed", "is not a call"),
    ],
)
def test_bad_expressions_raise_user_errors_starting_with_their_location(text, message):
    with pytest.raises(UserError) as error:
        parse_composition(text, BASES, "[compositions.x] expr")
    assert str(error.value).startswith("[compositions.x] expr: ")
    assert message in str(error.value)
