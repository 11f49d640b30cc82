#!/usr/bin/env python3
"""Execute an analyst notebook against a pipeline output directory, as CI does.

    python3 tests/notebooks/run.py notebooks/azerbaijan-2020.ipynb OUT_DIR

The notebook reads its output directory from the OONI_OUT environment variable and runs
from the repository root. Any cell that raises fails the run (exit 1) with the cell and its
traceback. The notebook file itself must have its outputs stripped (outputs stay out of
git); the executed copy is never written back.
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[2]


def stripped(nb) -> list[str]:
    """Cells that carry outputs or execution counts (they must not be committed)."""
    return [
        f"cell {i}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    notebook, out = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
    nb = nbformat.read(notebook, as_version=4)
    dirty = stripped(nb)
    if dirty:
        print(f"{notebook}: outputs are not stripped ({', '.join(dirty)}); "
              "clear them before committing (Jupyter: Edit → Clear All Outputs)", file=sys.stderr)
        return 1
    # The kernel inherits this process's environment.
    os.environ["OONI_OUT"] = str(out)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        print(f"{notebook}: a cell failed\n{err}", file=sys.stderr)
        return 1
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print(f"{notebook}: {cells} code cells ran against {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
