

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
