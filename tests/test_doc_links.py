"""Every relative link and image of the README and the results' history resolves to a file in
the tree: a plot or record that did not land shows here, not in a reader's browser (session
82's serving summary did not land, and the README linked it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "benchmarks/results/HISTORY.md", "benchmarks/results/README-to-session82.md")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc
    targets = [t for t in LINK.findall(path.read_text()) if "://" not in t]
    assert targets, f"{doc} has no relative links: the pattern no longer matches"
    missing = [t for t in targets if not (path.parent / t).exists()]
    assert not missing, f"{doc} links to missing files: {missing}"
