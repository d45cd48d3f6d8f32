"""Citations of the docs stay true: every doc a comment, docstring or page names exists in `docs/`,
every section sign points at a heading (or numbered item) that doc has, and nothing points
outside the repository at the reference folder it was written from.

Rules, per file:
- in code (`.py`, `.sql`, `Makefile`, …) a doc is cited by its path from the root, `docs/x.md`;
  a bare `x.md` naming a file of `docs/` is an error (the reader cannot tell where it is);
- in Markdown, relative links (`[…](x.md#anchor)`) must resolve, anchors included;
- a section sign refers to the doc named last before it in the same file, so
  `(docs/providers-wire.md <sign>2.1), … (<sign>2.2)` checks both against that doc.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SECTION_SIGN = "\u00a7"
SKIP_DIRS = {".git", ".venv", ".mboa", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
TEXT_SUFFIXES = {".py", ".md", ".sql", ".toml", ".ini", ".cfg", ".txt", ".yml", ".yaml", ".mako"}
TEXT_NAMES = {"Makefile"}

# `## 1.1 Hosts`, `### A8. Idempotency`, `## D. Conventions` -> "1.1", "A8", "D".
HEADING = re.compile(r"^#{1,6}\s+([A-Z]|[A-Z]?\d+(?:\.\d+)*)\.?\s", re.MULTILINE)
ANY_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")
# A top-level numbered item under a numbered heading: `5.` + `1.` -> "5.1"; `D` + `4.` -> "D4".
ITEM = re.compile(r"^(\d+)\.\s")
SECTION = re.compile(SECTION_SIGN + r"\s*([A-Z]?\d+(?:\.\d+)*)")
ROOTED_DOC = re.compile(r"(?<![\w./-])docs/([\w./-]+?\.md)(?:#([\w-]+))?")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# The reference folder beside the repository: its name starting a path, alone or after `../`.
REFERENCE_FOLDER = re.compile(r"(?:^|[^\w./-])(?:\.\./)*shared(?=/)", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Doc:
    sections: frozenset[str]
    anchors: frozenset[str]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def parse_doc(text: str) -> Doc:
    sections: set[str] = set()
    anchors: set[str] = set()
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            heading = ANY_HEADING.match(line)
            if heading:
                anchors.add(slug(heading.group(1)))
            numbered = HEADING.match(line + " ")
            current = numbered.group(1) if numbered else None
            if current:
                sections.add(current)
            continue
        item = ITEM.match(line)
        if item and current:
            separator = "" if current.isalpha() else "."
            sections.add(f"{current}{separator}{item.group(1)}")
    return Doc(frozenset(sections), frozenset(anchors))


def load_docs(docs_dir: Path = DOCS) -> dict[str, Doc]:
    """Every Markdown file under `docs/`, by its path relative to `docs/`."""
    return {
        path.relative_to(docs_dir).as_posix(): parse_doc(path.read_text())
        for path in sorted(docs_dir.rglob("*.md"))
    }


def check_text(
    name: str, text: str, docs: dict[str, Doc], *, markdown_dir: str | None = None
) -> tuple[list[str], int]:
    """Problems in one file's text, and how many citations were checked.

    `markdown_dir` is the file's folder relative to `docs/` when it is a page inside `docs/`
    ("" for `docs/` itself), so its relative links resolve; None for files outside `docs/`."""
    problems: list[str] = []
    checked = 0
    # (offset, doc it names or None for a broken name) in the order they appear.
    mentions: list[tuple[int, str | None]] = []
    if markdown_dir is not None:
        # In a page of docs/, a section sign names the page itself unless the same paragraph
        # names another doc before it.
        page = Path(markdown_dir, Path(name).name).as_posix()
        itself = page if page in docs else None
        mentions += [(0, itself)] + [(m.end(), itself) for m in re.finditer(r"\n\s*\n", text)]

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def cite(offset: int, target: str, anchor: str | None) -> None:
        nonlocal checked
        checked += 1
        doc = docs.get(target)
        if doc is None:
            problems.append(f"{name}:{line_of(offset)}: docs/{target} does not exist")
        elif anchor and anchor not in doc.anchors:
            problems.append(f"{name}:{line_of(offset)}: docs/{target} has no heading #{anchor}")
        mentions.append((offset, target if doc else None))

    for match in REFERENCE_FOLDER.finditer(text):
        problems.append(
            f"{name}:{line_of(match.start())}: cites the reference folder outside the "
            "repository; cite docs/ instead"
        )
    for match in ROOTED_DOC.finditer(text):
        cite(match.start(), match.group(1), match.group(2))
    if markdown_dir is not None:
        for match in LINK.finditer(text):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target) or target.startswith(("#", "/")):
                continue
            path, _, anchor = target.partition("#")
            if not path.endswith(".md"):
                resolved = (DOCS / markdown_dir / path).resolve()
                checked += 1
                if not resolved.exists():
                    problems.append(f"{name}:{line_of(match.start())}: {target} does not exist")
                continue
            joined = Path(markdown_dir, path).as_posix()
            resolved_name = Path(*_normalise(joined.split("/"))).as_posix()
            if resolved_name.startswith("../"):
                checked += 1
                if not (DOCS / joined).resolve().exists():
                    problems.append(f"{name}:{line_of(match.start())}: {target} does not exist")
                continue
            cite(match.start(), resolved_name, anchor or None)
    # A bare name of a doc: fine as prose inside docs/, an unclear citation in code.
    for doc_name in docs:
        bare = re.compile(r"(?<![\w./-])" + re.escape(doc_name) + r"(?![\w-])")
        for match in bare.finditer(text):
            if markdown_dir is None:
                problems.append(
                    f"{name}:{line_of(match.start())}: cite {doc_name} as docs/{doc_name}"
                )
            mentions.append((match.start(), doc_name))
    mentions.sort(key=lambda mention: mention[0])  # stable: a page before its own links
    for match in SECTION.finditer(text):
        before = [target for offset, target in mentions if offset <= match.start()]
        section = match.group(1)
        checked += 1
        if not before:
            problems.append(
                f"{name}:{line_of(match.start())}: {SECTION_SIGN}{section} names no doc before it"
            )
            continue
        target = before[-1]
        if target is None:
            continue  # the broken doc name is already reported
        if section not in docs[target].sections:
            problems.append(
                f"{name}:{line_of(match.start())}: docs/{target} has no section "
                f"{SECTION_SIGN}{section}"
            )
    return problems, checked


def _normalise(parts: list[str]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == ".." and out and out[-1] != "..":
            out.pop()
        else:
            out.append(part)
    return out


def repository_files() -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for file in sorted(files):
            path = Path(folder, file)
            if path == Path(__file__).resolve():
                continue  # its own examples of broken citations
            if path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES:
                found.append(path)
    return found


def check_repository() -> tuple[list[str], int]:
    docs = load_docs()
    problems: list[str] = []
    checked = 0
    for path in repository_files():
        relative = path.relative_to(ROOT)
        markdown_dir = None
        if path.suffix == ".md" and relative.parts[0] == "docs":
            markdown_dir = Path(*relative.parts[1:-1]).as_posix() if len(relative.parts) > 2 else ""
        found, count = check_text(
            relative.as_posix(), path.read_text(errors="replace"), docs, markdown_dir=markdown_dir
        )
        problems += found
        checked += count
    return problems, checked


def test_every_citation_of_a_doc_and_its_sections_exists() -> None:
    problems, checked = check_repository()
    assert checked > 150  # the scan saw the citations (about 90 of the wire and API docs alone)
    assert problems == []


def test_the_cited_docs_have_their_numbered_sections() -> None:
    docs = load_docs()
    wire = docs["providers-wire.md"].sections
    assert {"1", "1.1", "1.9", "1.11", "2.1", "2.2", "3.2", "3.4", "5.1", "5.4"} <= wire
    api = docs["api-conventions.md"].sections
    assert {"A6", "A8", "A10", "D", "D1", "D4", "D5", "D7"} <= api


def test_the_checker_reports_what_it_must() -> None:
    docs = {
        "wire.md": parse_doc("# Wire\n\n## 1. MTN\n\n### 1.9 Callbacks\n\n## 5. Design\n\n1. a\n"),
        "api.md": parse_doc("# API\n\n## D. Ours\n\n1. **ids**\n2. **errors**\n"),
    }
    sign = SECTION_SIGN

    def problems(text: str, markdown_dir: str | None = None) -> list[str]:
        return check_text("x", text, docs, markdown_dir=markdown_dir)[0]

    assert problems(f"# (docs/wire.md {sign}1.9, {sign}5.1); docs/api.md {sign}D2") == []
    assert problems(f"# docs/wire.md {sign}1.4") == [f"x:1: docs/wire.md has no section {sign}1.4"]
    assert problems(f"# docs/api.md\n# and {sign}D3") == [
        f"x:2: docs/api.md has no section {sign}D3"
    ]
    assert problems("# see docs/missing.md") == ["x:1: docs/missing.md does not exist"]
    assert problems(f"# wire.md {sign}1.9") == ["x:1: cite wire.md as docs/wire.md"]
    assert problems(f"# the wire doc {sign}1.9") == [f"x:1: {sign}1.9 names no doc before it"]
    assert len(problems("# see " + "../" + "shared" + "/docs/wire.md")) == 1
    assert problems("mboa/" + "shared" + "/x.py") == []
    # Markdown pages in docs/: relative links and anchors.
    assert problems(f"[wire](wire.md) {sign}1.9, [1.9](wire.md#19-callbacks)", "") == []
    assert problems("[w](wire.md#nope)", "") == ["x:1: docs/wire.md has no heading #nope"]
    assert problems("[w](gone.md)", "") == ["x:1: docs/gone.md does not exist"]
    # In a page, a section sign names the page itself unless its paragraph links another doc.
    page = check_text(
        "docs/wire.md", f"{sign}1.9, [a](api.md) {sign}D2\n\n{sign}D1", docs, markdown_dir=""
    )
    assert page[0] == [f"docs/wire.md:3: docs/wire.md has no section {sign}D1"]
