"""Run identities (proof, numeric check, wrong twins) and format the report.

Used by ``python -m derivations`` and by ``benchmarks/bench_derivations.py``.  :func:`evaluate` returns plain
dicts (JSON-ready); :func:`render_table` prints them with ``rich`` (one table of identities, one of their wrong twins).
"""
from __future__ import annotations

import time
import traceback

from derivations.identity import Identity
from derivations.steps import NumericResult, ProofResult

SCHEMA = "elbo-lab/derivations-report/v1"


def _proof_dict(res: ProofResult) -> dict:
    return {"ok": res.ok, "failed_step": res.failed_step, "derivation": res.derivation, "message": res.message}


def _numeric_dict(res: NumericResult) -> dict:
    return {"ok": res.ok, "estimate": res.estimate, "se": res.se, "exact": res.exact, "tol": res.tol,
            "message": res.message}


def _safe_check(ident: Identity, seed: int) -> NumericResult:
    try:
        return ident.check(seed)
    except Exception as exc:  # a crash is a failed check, reported, not a traceback
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return NumericResult(False, float("nan"), float("nan"), float("nan"), float("nan"), f"check raised {tb}")


def evaluate(ident: Identity, seed: int = 0, twins: bool = True) -> dict:
    """Prove and check one identity (and reject its wrong twins).  Returns a JSON-ready dict.

    ``ok`` is true when the proof and the numeric check pass and every wrong twin is rejected by both
    ``prove()`` and ``check()``.  ``seconds`` is the wall time of the whole evaluation.
    """
    t0 = time.perf_counter()
    proof = ident.prove()
    t1 = time.perf_counter()
    numeric = _safe_check(ident, seed)
    t2 = time.perf_counter()
    twin_rows = []
    if twins:
        for tw in ident.wrong_twins:
            tp = tw.prove()
            tc = _safe_check(tw, seed)
            twin_rows.append({"name": tw.name, "mistake": tw.mistake, "proof_rejected": not tp.ok,
                              "check_rejected": not tc.ok, "proof_message": tp.message, "check_message": tc.message})
    t3 = time.perf_counter()
    try:
        latex = ident.latex()
    except Exception as exc:  # pragma: no cover
        latex = f"<latex failed: {exc}>"
    twins_ok = all(r["proof_rejected"] and r["check_rejected"] for r in twin_rows)
    try:
        given = ident.taken_as_given
    except Exception:  # pragma: no cover - a broken build is reported by the proof verdict
        given = []
    return {
        "taken_as_given": given,
        "name": ident.name, "title": ident.title, "source": ident.source, "statement_latex": latex,
        "proof": _proof_dict(proof), "numeric": _numeric_dict(numeric), "twins": twin_rows,
        "ok": bool(proof.ok and numeric.ok and twins_ok),
        "seconds": {"prove": t1 - t0, "check": t2 - t1, "twins": t3 - t2, "total": t3 - t0},
    }


def proof_cell(row: dict) -> str:
    p = row["proof"]
    if p["ok"]:
        return "proved"
    if p["failed_step"] is None:
        return f"failed ({p['derivation']})"
    return f"failed at step {p['failed_step']} ({p['derivation']})"


def numeric_cell(row: dict) -> str:
    n = row["numeric"]
    verdict = "passed" if n["ok"] else "FAILED"
    return f"{n['estimate']:.6g} ± {n['se']:.2g} vs {n['exact']:.6g}: {verdict}"


def twins_cell(row: dict) -> str:
    if not row["twins"]:
        return "-"
    k = sum(r["proof_rejected"] and r["check_rejected"] for r in row["twins"])
    return f"{k}/{len(row['twins'])} rejected"


def failure_details(rows: list) -> list:
    """Human-readable lines explaining every failure (which step, why; which check)."""
    lines = []
    for row in rows:
        if not row["proof"]["ok"]:
            lines.append(f"{row['name']}: proof {row['proof']['message']}")
        if not row["numeric"]["ok"]:
            lines.append(f"{row['name']}: numeric check failed: {row['numeric']['message']}")
        for tw in row["twins"]:
            if not tw["proof_rejected"]:
                lines.append(f"{row['name']}: wrong twin '{tw['name']}' ({tw['mistake']}) was PROVED: {tw['proof_message']}")
            if not tw["check_rejected"]:
                lines.append(f"{row['name']}: wrong twin '{tw['name']}' passed the numeric check: {tw['check_message']}")
    return lines


def twin_rows(rows: list) -> list:
    """One ``[identity, twin, mistake, proof verdict, check verdict]`` row per wrong twin."""
    out = []
    for r in rows:
        for tw in r["twins"]:
            out.append([r["name"], tw["name"].split("~", 1)[-1], tw["mistake"],
                        "rejected" if tw["proof_rejected"] else "PROVED", "rejected" if tw["check_rejected"] else "PASSED"])
    return out


def render_table(rows: list, total_seconds: float, file=None) -> None:
    """Print the report table, the wrong twins of each identity, and any failure details (with ``rich``)."""
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = file or sys.stdout
    headers = ["identity", "proof", "numeric check (estimate ± SE vs exact)", "wrong twins", "seconds"]
    ok = all(r["ok"] for r in rows)
    footer = f"{sum(r['ok'] for r in rows)}/{len(rows)} identities ok; total {total_seconds:.1f} s"
    console = Console(file=out, width=160)
    table = Table(title="ELBO Lab derivations (nats)", show_lines=False)
    for h in headers:
        table.add_column(h, justify="right" if h == "seconds" else "left")
    for r in rows:
        cells = [r["name"], proof_cell(r), numeric_cell(r), twins_cell(r), f"{r['seconds']['total']:.2f}"]
        table.add_row(*map(escape, cells), style=None if r["ok"] else "bold red")
    console.print(table)
    twins = twin_rows(rows)
    if twins:
        tt = Table(title="Wrong twins (each must be rejected by the proof and by the numeric check)")
        for h in ("identity", "twin", "the mistake", "proof", "check"):
            tt.add_column(h, overflow="fold")
        for t in twins:
            tt.add_row(*map(escape, t), style=None if t[3] == "rejected" and t[4] == "rejected" else "bold red")
        console.print(tt)
    givens = [(r["name"], g) for r in rows for g in r.get("taken_as_given", [])]
    if givens:
        gt = Table(title="Taken as given (stated, not checked; everything else is checked by the rules and on "
                         "random instances)")
        for h in ("identity", "taken as given"):
            gt.add_column(h, overflow="fold")
        for name, g in givens:
            gt.add_row(escape(name), escape(g))
        console.print(gt)
    console.print(footer, style="green" if ok else "bold red")
    for line in failure_details(rows):
        console.print(line, style="red", markup=False, highlight=False)
