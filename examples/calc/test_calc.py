import pytest
from calc import add


@pytest.mark.parametrize(("a", "b", "total"), [(1, 2, 3), (0, 0, 0), (-2, -3, -5), (10, 5, 15)])
def test_add(a, b, total):
    assert add(a, b) == total


@pytest.mark.genopt(holdout=True)
def test_add_large():
    assert add(10**6, 1) == 10**6 + 1
