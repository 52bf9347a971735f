"""Fast checks of the book's sources (no build): structure, contracts, and no numbers of ours typed in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
CHAPTERS = BOOK / "chapters"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    return [ch["file"] for part in toc["parts"] for ch in part["chapters"]]


#: Chapters that teach from trained runs, with no identity of their own (no {elbo-identity} directive, not in
#: derivations.REGISTRY); they keep the chapters' scaffolding.
NARRATIVE_CHAPTERS = ("posterior_collapse",)


def _chapter_names() -> list[str]:
    """The identity chapters in _toc.yml order (the narrative chapters left out)."""
    names = [f.removeprefix("chapters/") for f in _toc_files() if f.startswith("chapters/")]
    return [n for n in names if n not in NARRATIVE_CHAPTERS]


def test_chapters_follow_the_registry_in_story_order():
    from derivations import REGISTRY

    assert _chapter_names() == list(REGISTRY), "one chapter per registered identity, in the registry's order"


def test_every_toc_entry_exists():
    for f in _toc_files():
        assert (BOOK / f"{f}.md").is_file(), f"_toc.yml names {f} but book/{f}.md does not exist"


def _sections(text: str) -> list[str]:
    """The chapter's ``## `` headings, in order."""
    return re.findall(r"^## (.+)$", text, re.M)


@pytest.mark.parametrize("name", _chapter_names())
def test_chapter_is_prose_around_one_rendering_path(name: str):
    """A chapter is its prose: the identity's sections come from the {elbo-identity} directive, once each."""
    text = (CHAPTERS / f"{name}.md").read_text()
    assert text.startswith("---\njupytext:") and "kernelspec:" in text  # a MyST notebook (downloadable as .ipynb)
    parts = re.findall(r"```\{elbo-identity\} (\w+)\n:part: (\w+)\n```", text)
    assert parts == [(name, "statement"), (name, "derivation"), (name, "verification")], parts
    # no page re-implements the machinery the directive owns
    for copy in ("ident.prove()", "ident.check(", "sympy.latex(", "get_identity(", "elbo-verdict\" data-ok", "glue(\"statement\""):
        assert copy not in text, f"{name} copies the directive's machinery ({copy})"


def _scaffolded_pages() -> list[Path]:
    return ([CHAPTERS / f"{n}.md" for n in _chapter_names()] + [CHAPTERS / f"{n}.md" for n in NARRATIVE_CHAPTERS]
            + sorted((BOOK / "practice").glob("*.md")))


@pytest.mark.parametrize("page", _scaffolded_pages(), ids=lambda p: p.stem)
def test_chapter_scaffolding(page: Path):
    """Objectives and prerequisites first; key points, exercises with hidden solutions, further reading last."""
    text = page.read_text()
    body = text.split("\n---\n", 1)[1]
    first_block = body.split("\n## ", 1)[0]
    assert ":class: elbo-objectives" in first_block and "**You will be able to**" in first_block
    assert "**Prerequisites:**" in first_block
    sections = _sections(text)
    assert sections[-3:] == ["Key points", "Exercises", "Further reading"], sections
    key_points = text.split("## Key points", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"^- ", key_points, re.M)) >= 2
    exercises = text.split("## Exercises", 1)[1].split("\n## ", 1)[0]
    n_ex = exercises.count("```{exercise}")
    assert n_ex >= 2 and exercises.count("```{solution}") == n_ex and exercises.count(":class: dropdown") >= n_ex
    reading = text.split("## Further reading", 1)[1]
    assert len(re.findall(r"\{footcite:t\}`\w+`", reading)) >= 2 and "```{footbibliography}" in reading


def test_videos_name_real_vizlab_scenes():
    from vizlab.scenes import SCENE_NAMES

    used = set()
    for page in BOOK.rglob("*.md"):
        used.update(re.findall(r"```\{elbo-video\} (\w+)", page.read_text()))
    assert used, "no page embeds a video"
    unknown = used - set(SCENE_NAMES)
    assert not unknown, f"pages embed scenes vizlab does not define: {sorted(unknown)}"


def test_citations_resolve_to_the_bibliography():
    bib = (BOOK / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for needed in ("kingma2014auto", "rezende2014stochastic", "hoffman2016elbo", "burda2016importance",
                   "tomczak2018vae", "prince2023understanding"):
        assert needed in keys
    cited = set()
    for page in BOOK.rglob("*.md"):
        for group in re.findall(r"\{(?:foot)?cite:[tp]?\}`([^`]+)`", page.read_text()):
            cited.update(k.strip() for k in group.split(","))
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"
    assert keys <= cited, f"in references.bib but never cited: {sorted(keys - cited)}"


def test_config_is_offline_cached_and_strict():
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    sphinx = config["sphinx"]
    assert "sphinx-mathjax-offline" in sphinx["extra_extensions"]
    assert not sphinx["config"]["mathjax_path"].startswith(("http:", "https:", "//"))
    assert config["launch_buttons"]["thebe"] is False
    script = (ROOT / "scripts" / "build_book.sh").read_text()
    assert "-W --keep-going" in script and "vizlab render --quality l" in script


def _our_values() -> set[str]:
    """Every result value of ours, formatted as a page would show it (2 decimals)."""
    values = set()
    results = ROOT / "training" / "results"
    for path in [*results.glob("vae_d*.json"), *(results / "beta_sweep").glob("*.json")]:
        data = json.loads(path.read_text())
        terms = dict(data["train"]["terms"])
        terms["test_elbo"] = data["test"]["elbo"]
        terms["iwae"] = data["test"]["iwae"]
        for term in terms.values():
            values.add(f"{term['value']:.2f}")
    return values


def test_no_number_of_ours_is_typed_into_a_page():
    from training.result_files import PAPER_TABLE1

    values = _our_values()
    if not values:
        pytest.skip("no training results yet: nothing to compare against")
    paper = {f"{v:.2f}" for row in PAPER_TABLE1.values() for v in row.values()}
    ours_only = values - paper  # a value equal to the paper's may legitimately appear as the paper's
    for page in BOOK.rglob("*.md"):
        if "_build" in page.parts:
            continue
        text = page.read_text()
        typed = sorted(v for v in ours_only if re.search(rf"(?<![\d.]){re.escape(v)}(?!\d)", text))
        assert not typed, f"{page.relative_to(ROOT)} types result values {typed}; read them from training.results"


def _extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location("elbo_book", BOOK / "_ext" / "elbo_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_input_fingerprint_follows_file_contents(tmp_path: Path):
    ext = _extension()
    (tmp_path / "results").mkdir()
    result = tmp_path / "results" / "vae_d2.json"
    result.write_text('{"elbo": 1}')
    before = ext._fingerprint(tmp_path, ["results/*.json"])
    assert ext._fingerprint(tmp_path, ["results/*.json"]) == before  # deterministic
    result.write_text('{"elbo": 2}')
    changed = ext._fingerprint(tmp_path, ["results/*.json"])
    assert changed != before
    (tmp_path / "results" / "vae_d10.json").write_text("{}")
    assert ext._fingerprint(tmp_path, ["results/*.json"]) != changed  # a new results file counts too


def test_palette_css_has_every_term_color():
    from vizlab.palette import TERM_COLORS

    css = _extension()._palette_css()
    for term, color in TERM_COLORS.items():
        assert color in css and f".elbo-term-{term} " in css


def test_no_citation_in_a_caption():
    """A citation inside a figure caption breaks the PDF (hyperref in LaTeX's moving \\caption argument)."""
    for page in BOOK.rglob("*.md"):
        if "_build" in page.parts:
            continue
        for block in re.findall(r"```\{(?:elbo-video|glue:figure|figure)\}.*?\n```", page.read_text(), re.S):
            assert "{cite" not in block, f"{page.name}: a caption cites; name the work in words instead"
