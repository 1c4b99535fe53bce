from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support_views.world import World, world


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One SQLite world shared by the read-only tests of a module (building it takes a second)."""
    with world(tmp_path_factory.mktemp("support")) as w:
        yield w
