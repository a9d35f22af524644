"""Suite-wide pytest hooks."""

# Files whose tests take minutes each: run first, so parallel workers do not end on one of them alone.
LONGEST_FIRST = ("test_notebooks.py",)


def pytest_collection_modifyitems(config, items):
    """Move the longest tests to the front (a stable sort: the order within each group is kept)."""
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)
