"""``benchmarks/run_all.py`` runs every benchmark in ``benchmarks/``."""

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_run_all():
    spec = importlib.util.spec_from_file_location("run_all", BENCHMARKS / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_is_in_every_suite():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")} - {"run_all"}
    for suite in load_run_all().SUITES.values():
        assert set(suite) == scripts
