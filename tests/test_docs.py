"""The README stays a five-minute read, and every link in it and in docs/ leads somewhere that exists."""

from __future__ import annotations

import re

from conftest import REPO

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path) -> set[str]:
    return {_anchor(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")}


def test_readme_is_short_and_keeps_the_quickstart():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 220
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert 'pip install ".[dev]" && nao-tf search' in quick and "\npytest\n" in quick


def test_every_relative_link_resolves():
    pages = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text()
    missing = [p.name for p in sorted((REPO / "docs").glob("*.md")) if f"docs/{p.name}" not in readme]
    assert missing == []
