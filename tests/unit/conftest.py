from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.toml")
