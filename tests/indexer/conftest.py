from collections.abc import Callable

import pytest

from indexer import vector_index


@pytest.fixture
def deny_index_saves(monkeypatch) -> Callable[[], None]:
    """Return a function that makes later saves of a vector index fail.

    The rename that replaces the file fails as it does on a file marked
    immutable (chattr +i), which root cannot get around either.
    """

    def deny(source, target):
        raise PermissionError(1, "Operation not permitted")

    return lambda: monkeypatch.setattr(vector_index.os, "replace", deny)
