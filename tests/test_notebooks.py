"""The notebooks in ``notebooks/`` run top to bottom and are stored without outputs.

Each runs with nbclient in a kernel of this interpreter, in one temporary working
directory shared by the three (so ``03_chemical_space`` reuses the campaign that
``02_molecule_campaign`` trained, as it would for a reader running them in order; run
alone, it trains its own). Nothing is written into the repository.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = [
    "01_hypergrid_sculpting.ipynb",
    "02_molecule_campaign.ipynb",
    "03_chemical_space.ipynb",
]
NOTEBOOK_TIMEOUT_S = 600
"""Wall-clock limit of one notebook, kernel start excluded. Measured on a loaded 2-core
machine: 01 about 1 minute, 02 under 4, 03 under 1 after 02 and under 4 alone."""
KERNEL = "python3"
"""jupyter_client resolves the ``python3`` kernelspec to the running interpreter
(``test_the_kernel_is_this_interpreter``), so the notebooks see this environment."""


def execute(notebook: nbformat.NotebookNode, workdir: Path, timeout_s: float) -> None:
    """Run every cell of ``notebook`` in ``workdir``, in place, within ``timeout_s`` in all."""
    deadline = time.monotonic() + timeout_s
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        # each cell may use what is left of the notebook's time (nbclient reads 0 as "no limit")
        timeout_func=lambda cell: max(1, round(deadline - time.monotonic())),
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{name} has no code cell"
    for index, cell in enumerate(code):
        assert not cell.outputs, f"{name}: code cell {index} is stored with outputs"
        assert cell.execution_count is None, f"{name}: code cell {index} has an execution count"


def test_the_kernel_is_this_interpreter(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import sys\nprint(sys.executable)")]
    execute(notebook, tmp_path, timeout_s=120)
    assert notebook.cells[0].outputs[0]["text"].strip() == sys.executable


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, workdir):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    try:
        execute(notebook, workdir, NOTEBOOK_TIMEOUT_S)
    except CellTimeoutError:
        pytest.fail(f"{name} did not finish within {NOTEBOOK_TIMEOUT_S} s", pytrace=False)
    except CellExecutionError as error:
        executed = workdir / f"failed_{name}"
        nbformat.write(notebook, executed)
        pytest.fail(f"{name} failed (executed notebook: {executed}):\n{error}", pytrace=False)
