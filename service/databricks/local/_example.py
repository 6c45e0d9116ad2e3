"""Seeding the local backend with the ETL example (``examples/etl`` in the repository)."""

from __future__ import annotations

import shutil
from pathlib import Path

# service/databricks/local/_example.py -> the repository root (the package is installed editable).
EXAMPLE_DIR = Path(__file__).resolve().parents[3] / "examples" / "etl"


def seed_example(workspace_dir: Path, dbfs_root: Path) -> Path:
    """Copy the example notebooks into the workspace and its raw CSVs to dbfs:/mnt/raw-data.

    Existing files of the same name are overwritten. Returns the path of the example's
    ``workflow.yaml`` (the seed ``workflow_config`` format).
    """
    workflow = EXAMPLE_DIR / "workflow.yaml"
    notebooks = EXAMPLE_DIR / "workspace"
    raw_data = EXAMPLE_DIR / "data" / "raw-data"
    missing = [path for path in (workflow, notebooks, raw_data) if not path.exists()]
    if missing:
        raise FileNotFoundError(
            f"the ETL example is incomplete or missing: {', '.join(map(str, missing))} "
            "(seed_example needs a source checkout of Lockgate, installed editable)"
        )
    shutil.copytree(notebooks, workspace_dir, dirs_exist_ok=True)
    target = dbfs_root / "mnt" / "raw-data"
    target.mkdir(parents=True, exist_ok=True)
    for csv_file in sorted(raw_data.glob("*.csv")):
        shutil.copy2(csv_file, target / csv_file.name)
    return workflow
