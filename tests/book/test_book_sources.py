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
    """Every chapter of the course (``book/chapters``), in the table of contents' order."""
    return [f.removeprefix("chapters/") for f in _toc_files() if f.startswith("chapters/")]


def _identity_chapters() -> list[str]:
    from derivations import REGISTRY

    return [n for n in _chapter_names() if n in REGISTRY]


def test_chapters_follow_the_registry_in_story_order():
    from derivations import REGISTRY

    assert _identity_chapters() == list(REGISTRY), "one chapter per registered identity, in the registry's order"


def test_course_chapters_sit_in_the_lecture_order():
    """Amortized inference after EM and before the gradients; the VAE after the gradients, before flows."""
    names = _chapter_names()
    assert names.index("em") < names.index("amortized_inference") < names.index("score_function_gradient")
    assert names.index("reparameterization_gradient") < names.index("vae") < names.index("flow_as_dirac_vae")
    for name in set(names) - set(_identity_chapters()):  # a course chapter is prose, figures and real numbers
        assert "{elbo-identity}" not in (CHAPTERS / f"{name}.md").read_text(), name


def test_every_toc_entry_exists():
    for f in _toc_files():
        assert (BOOK / f"{f}.md").is_file(), f"_toc.yml names {f} but book/{f}.md does not exist"


def _sections(text: str) -> list[str]:
    """The chapter's ``## `` headings, in order."""
    return re.findall(r"^## (.+)$", text, re.M)


@pytest.mark.parametrize("name", _identity_chapters())
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


def _bib_keys() -> set[str]:
    return set(re.findall(r"@\w+\{([^,]+),", (BOOK / "references.bib").read_text()))


def _identity_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("elbo_identity", BOOK / "_ext" / "elbo_identity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source_keys() -> set[str]:
    """The bibliography keys that the theorem boxes cite: one per work named in an identity's ``SOURCE``."""
    from derivations import REGISTRY

    ext = _identity_module()
    return {k for ident in REGISTRY.values() for k in ext.source_citations(ident.source)[1]}


def test_citations_resolve_to_the_bibliography():
    keys = _bib_keys()
    for needed in ("kingma2014auto", "rezende2014stochastic", "hoffman2016elbo", "burda2016importance",
                   "tomczak2018vae", "prince2023understanding", "isachenko2024lecture5", "gupta2018elbo"):
        assert needed in keys
    cited = set()
    for page in BOOK.rglob("*.md"):
        if "_build" in page.parts:
            continue
        for group in re.findall(r"\{(?:foot)?cite:[tp]?\}`([^`]+)`", page.read_text()):
            cited.update(k.strip() for k in group.split(","))
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"
    cited |= _source_keys()
    assert keys <= cited, f"in references.bib but never cited: {sorted(keys - cited)}"


def test_every_source_of_a_derivation_is_a_bibliography_entry():
    """Each ``;``-separated work of every identity's ``SOURCE`` is matched by ``SOURCE_WORKS`` to an entry of
    references.bib, so the theorem box cites it (a new source without an entry fails here, not on the page)."""
    from derivations import REGISTRY

    ext = _identity_module()
    keys = _bib_keys()
    for name, ident in REGISTRY.items():
        shown, cited, unmatched = ext.source_citations(ident.source)
        assert not unmatched, f"{name}: SOURCE names works that are not in references.bib: {unmatched}"
        assert cited and set(cited) <= keys, f"{name}: {sorted(set(cited) - keys)} not in references.bib"
        assert shown.count("{cite:t}") == len(ext.source_parts(ident.source))


def test_source_citations_keep_the_locator_and_reject_an_unknown_work():
    ext = _identity_module()
    shown, keys, unmatched = ext.source_citations(
        "R. Isachenko, *Deep Generative Models*, Lecture 5, slide 'ELBO'; Hoffman & Johnson, 'ELBO surgery: x', "
        "NIPS 2016 AABI workshop (eqs. 2, 17; Table 1); A. Nobody, *Unwritten* (2031)")
    assert keys == ["isachenko2024lecture5", "hoffman2016elbo"]
    assert "{cite:t}`isachenko2024lecture5`, Lecture 5, slide 'ELBO'" in shown
    assert "{cite:t}`hoffman2016elbo` (eqs. 2, 17; Table 1)" in shown  # a ';' inside parentheses stays
    assert unmatched == ["A. Nobody, *Unwritten* (2031)"]


def test_every_chapter_has_a_figure_before_its_first_theorem():
    """Teaching first: a static figure (a glued matplotlib figure with alt text) before the statement."""
    for name in _chapter_names():
        text = (CHAPTERS / f"{name}.md").read_text()
        first_figure = text.find("```{glue:figure}")
        assert first_figure > 0, f"{name} has no static figure"
        block = text[first_figure:].split("\n```", 1)[0]
        assert ":alt: " in block and ":name: " in block, f"{name}: the first figure lacks alt text or a name"
        theorem = text.find("```{elbo-identity}")
        assert theorem < 0 or first_figure < theorem, f"{name}: the first figure comes after the theorem"


@pytest.mark.parametrize("name", _identity_chapters())
def test_verification_is_folded_under_how_this_was_checked(name: str):
    """The proof log, numeric check and twins render inside one dropdown; the chapter has no section of its own."""
    text = (CHAPTERS / f"{name}.md").read_text()
    assert "## Proof and numeric check" not in text
    ext = _identity_module()
    assert ext.CHECKED_TITLE == "How this was checked"
    import inspect

    run = inspect.getsource(ext.ElboIdentity.run)
    assert "CHECKED_TITLE" in run and '"dropdown' in run


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


def test_the_intro_says_what_proved_means():
    """Issue 19: the intro says in one sentence what "proved" means (the same sentence the verification
    sections show, from derivations.identity.PROVED_MEANS)."""
    from derivations.identity import PROVED_MEANS

    intro = (Path(__file__).resolve().parents[2] / "book" / "intro.md").read_text()
    assert PROVED_MEANS in intro


def test_theorem_boxes_name_what_is_taken_as_given():
    """Issue 19: each theorem box lists what its proof takes as given (or says nothing is)."""
    from derivations import REGISTRY

    ext = _identity_module()
    for name in ("em", "evidence_monte_carlo", "elbo_gap"):
        md = ext.statement_md(REGISTRY[name])
        assert "Taken as given" in md
        for given in REGISTRY[name].taken_as_given:
            assert given in md


def _check_exercise_source(name: str) -> str:
    text = (CHAPTERS / f"{name}.md").read_text()
    start = text.index(f"{{solution}} ex-{name}-check")
    block = text[start:]
    return block[block.index("```latex") + len("```latex"):block.index("\n```\n", block.index("```latex"))]


@pytest.mark.parametrize("name", sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "book" / "chapters")
                                        .glob("*.md")))
def test_every_chapter_has_a_check_it_yourself_exercise_whose_solution_checks(name):
    """Issue 20: each chapter asks the student to write a derivation and check it with ``python -m derivations
    check``; the solution's file is run through the same checker and every step must follow."""
    pytest.importorskip("lark")
    from derivations import check_derivation

    text = (CHAPTERS / f"{name}.md").read_text()
    assert f"ex-{name}-check" in text and "python -m derivations check" in text, name
    res = check_derivation(_check_exercise_source(name))
    assert res.ok, res.text()
