"""The book's interactive figures ({elbo-live-figure}, book/_ext/elbo_figures_live.py) in headless Chromium.

The built book is served on 127.0.0.1; every request to another host is blocked and counted (there must be
none).  For each figure the test moves its controls -- by setting a slider's value and firing ``input``, and
once with the keyboard -- and asserts that the numbers the page shows are the Python closed forms at the new
position: :mod:`derivations.models.linear_gaussian` (ELBO, KL, evidence), SciPy's log-normal (Jensen's gap,
by its mean and by quadrature of E[log y]) and :func:`derivations.models.surgery_oracles.gaussian_surgery_terms`
(average KL, marginal KL, index-code MI).  The page shows 3 decimals, so the tolerance is 6e-4 (half a unit
of the last digit plus the quadrature's error, below 1e-6 nats).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TOL = 6e-4  # displayed to 3 decimals: 5e-4 rounding + quadrature error


@pytest.fixture(scope="module")
def context(browser, offline):
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    ctx.external = offline(ctx)
    yield ctx
    ctx.close()


def _open(context, book_server: str, chapter: str):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{book_server}/chapters/{chapter}.html", wait_until="load")
    page.wait_for_selector(f".elbo-live[data-figure='{chapter}'][data-ready='1']", timeout=10_000)
    page.errors = errors
    return page


def _shown(page) -> dict[str, float]:
    """The numbers the figure shows, by term (the page writes a true minus sign)."""
    texts = page.eval_on_selector_all(".elbo-live output[data-term]",
                                      "els => els.map(e => [e.dataset.term, e.textContent])")
    return {term: float(text.replace("\u2212", "-")) for term, text in texts}


def _set(page, control: str, value: float) -> None:
    page.eval_on_selector(
        f".elbo-live input[data-control='{control}']",
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', {bubbles: true})); }",
        value,
    )


def _value(page, control: str) -> float:
    return float(page.eval_on_selector(f".elbo-live input[data-control='{control}']", "el => el.value"))


def _assert_close(shown: dict, expected: dict, where: str) -> None:
    for term, value in expected.items():
        assert abs(shown[term] - value) <= TOL, f"{where}: {term} shown {shown[term]}, Python {value:.6f}"


# ------------------------------------------------------------------------------------------- ELBO gap
def _elbo_gap_expected(m: float, v: float) -> dict:
    from derivations.models import linear_gaussian

    d = linear_gaussian.DEFAULT
    log_px = float(linear_gaussian.log_evidence(d["x"], d["w"], d["b"], d["s"]))
    elbo = float(linear_gaussian.elbo(m, v, d["x"], d["w"], d["b"], d["s"]))
    kl = float(linear_gaussian.kl_to_posterior(m, v, d["x"], d["w"], d["b"], d["s"]))
    return {"log_px": log_px, "elbo": elbo, "kl": kl, "sum": elbo + kl}


def test_elbo_gap_figure_follows_the_closed_forms(context, book_server):
    from derivations.models import linear_gaussian

    page = _open(context, book_server, "elbo_gap")
    d = linear_gaussian.DEFAULT
    first = _shown(page)
    _assert_close(first, _elbo_gap_expected(d["m"], d["v"]), "initial q")
    m_star, v_star = (float(a) for a in linear_gaussian.posterior(d["x"], d["w"], d["b"], d["s"]))
    moves = [(1.5, 0.2), (-0.5, 1.1), (round(m_star, 2), round(v_star, 2))]
    for m, v in moves:
        _set(page, "m", m)
        _set(page, "v", v)
        shown = _shown(page)
        _assert_close(shown, _elbo_gap_expected(m, v), f"q = N({m}, {v})")
        assert shown["elbo"] != first["elbo"] and shown["kl"] != first["kl"], "the numbers did not move"
        assert shown["log_px"] == first["log_px"], "the evidence must not depend on q"
    # at the (rounded) posterior the gap is nearly closed: KL is quadratic in the rounding error
    assert 0 <= shown["kl"] < 0.01, shown
    # the keyboard moves the slider by one step, and the numbers follow
    page.focus(".elbo-live input[data-control='m']")
    page.keyboard.press("ArrowRight")
    m = _value(page, "m")
    assert m == pytest.approx(round(m_star, 2) + 0.01), m
    _assert_close(_shown(page), _elbo_gap_expected(m, _value(page, "v")), "after ArrowRight")
    assert page.errors == []
    page.close()


# --------------------------------------------------------------------------------------------- Jensen
def _jensen_expected(mu: float, sigma: float) -> dict:
    from scipy import stats

    if sigma == 0:
        return {"mean_y": np.exp(mu), "log_mean": mu, "mean_log": mu, "gap": 0.0}
    y = stats.lognorm(s=sigma, scale=np.exp(mu))
    mean_log = float(y.expect(np.log))  # quadrature, independent of the closed form E[log y] = mu
    return {"mean_y": float(y.mean()), "log_mean": float(np.log(y.mean())), "mean_log": mean_log,
            "gap": float(np.log(y.mean()) - mean_log)}


def test_jensen_figure_follows_the_closed_forms(context, book_server):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))
    from elbo_figures_live import JENSEN

    page = _open(context, book_server, "jensen")
    mu = JENSEN["mu"]
    _assert_close(_shown(page), _jensen_expected(mu, JENSEN["sigma"]), "initial sigma")
    gaps = []
    for sigma in (0.0, 0.3, 1.0, 1.5):
        _set(page, "sigma", sigma)
        shown = _shown(page)
        _assert_close(shown, _jensen_expected(mu, sigma), f"sigma = {sigma}")
        assert shown["gap"] == pytest.approx(sigma**2 / 2, abs=TOL)
        gaps.append(shown["gap"])
    assert gaps[0] == 0 and all(a < b for a, b in zip(gaps, gaps[1:])), f"the gap must grow with sigma: {gaps}"
    assert page.errors == []
    page.close()


# ---------------------------------------------------------------------------------------- ELBO surgery
def _surgery_expected(n: int, sigma: float) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))
    from elbo_figures_live import surgery_means

    from derivations.models.surgery_oracles import gaussian_surgery_terms

    mu = surgery_means(n)[:, None]
    t = gaussian_surgery_terms(mu, np.full_like(mu, 2 * np.log(sigma)))
    return {"avg_kl": t["avg_kl"], "marginal_kl": t["marginal_kl"], "index_code_mi": t["index_code_mi"],
            "log_n": t["log_n"], "sum": t["marginal_kl"] + t["index_code_mi"]}


def test_surgery_figure_follows_the_oracle(context, book_server):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))
    from elbo_figures_live import SURGERY

    page = _open(context, book_server, "elbo_surgery")
    _assert_close(_shown(page), _surgery_expected(SURGERY["n"], SURGERY["sigma"]), "initial")
    for n, sigma in ((1, 0.5), (2, 1.0), (20, 0.05), (50, 1.5), (5, 0.1)):
        _set(page, "n", n)
        _set(page, "sigma", sigma)
        shown = _shown(page)
        _assert_close(shown, _surgery_expected(n, sigma), f"N = {n}, sigma = {sigma}")
        assert shown["index_code_mi"] <= shown["log_n"] + TOL, shown
        # the dashed line is drawn at log N, right of the end of the MI bar
        line_x = page.eval_on_selector(".elbo-live line[data-log-n]", "el => Number(el.getAttribute('x1'))")
        mi_end = page.eval_on_selector(".elbo-live rect.elbo-live-fill-index_code_mi:not([height='10'])",
                                       "el => Number(el.getAttribute('x')) + Number(el.getAttribute('width'))")
        assert mi_end <= line_x + 0.5, (n, sigma, mi_end, line_x)
    # narrow, separated encoders: the MI nearly reaches log N (the last setting, N = 5, sigma = 0.1)
    assert shown["index_code_mi"] > 0.99 * shown["log_n"], shown
    assert page.errors == []
    page.close()


def test_no_request_left_localhost(context, book_server):
    """Runs last in this module: the pages above (and their figures) fetched nothing from other hosts."""
    page = _open(context, book_server, "elbo_gap")
    page.close()
    assert context.external == [], f"requests to other hosts: {sorted(set(context.external))}"


def test_figures_also_work_from_a_file_url(browser, built_book: Path):
    """No fetch, no module, no wasm: a page opened from disk (file://) draws its figure too."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((built_book / "chapters" / "jensen.html").as_uri(), wait_until="load")
    page.wait_for_selector(".elbo-live[data-figure='jensen'][data-ready='1']", timeout=10_000)
    _set(page, "sigma", 1.0)
    assert _shown(page)["gap"] == pytest.approx(0.5, abs=TOL)
    assert errors == []
    page.close()
