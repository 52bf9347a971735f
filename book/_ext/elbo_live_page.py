r"""The Python that a live check box runs in the page (Pyodide), and that the book's tests run on the CPU.

A box (the ``{elbo-live}`` directive, :mod:`elbo_live`) shows the lines given so far, in the check format of
:mod:`derivations.check` (``first &= second \\ &= third``), and a text area where the student types the next
line (``&= ...``, ``= ...``, ``\ge ...`` or a bare expression, read as ``&= ...``; several lines separated by
``\\``) or a whole chain (``\begin{aligned} ... \end{aligned}``, checked on its own).  :func:`check` joins the
two into one ``aligned`` block, runs :func:`derivations.check.check_derivation` on it -- the same engine and
reader as ``python -m derivations check`` -- and returns the verdicts of the student's steps as a JSON-able dict.

This module is bundled with the engine into ``_static/live/engine.zip`` by the book build; it imports only
:mod:`derivations.check` (pure Python: SymPy, mpmath, lark).
"""
from __future__ import annotations

import json
import math
import re

__all__ = ["compose", "check", "check_json"]

_REL_START = re.compile(r"^(=|\\geqslant|\\leqslant|\\geq|\\leq|\\ge|\\le|>=|<=)(?![A-Za-z])")


def _rows(block: str) -> list[str]:
    """Split ``block`` at top-level ``\\`` (the row separator; ``\\`` inside braces is kept)."""
    rows, depth, cur, i = [], 0, [], 0
    while i < len(block):
        ch = block[i]
        if ch == "\\" and block.startswith("\\\\", i) and depth == 0:
            rows.append("".join(cur))
            cur = []
            i += 2
            continue
        if ch == "\\" and i + 1 < len(block):  # an escaped character (\{, \}) does not open or close a group
            cur.append(block[i:i + 2])
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur.append(ch)
        i += 1
    rows.append("".join(cur))
    return [r.strip() for r in rows if r.strip()]


def _typed_row(row: str) -> str:
    row = row.strip().strip("$").strip()
    if row.startswith("&"):
        return row
    if _REL_START.match(row):
        return "&" + row
    return "&= " + row


def compose(given: str, typed: str, assume: str = "") -> tuple[str, int]:
    r"""The ``aligned`` block that is checked, and how many of its steps are the given ones (not reported).

    Args:
        given: the box's given rows in the check format (``\log p(x) &= ... \\ &= ...``; a first row without
            ``&`` is the chain's first expression); may be empty when the student types a whole chain.
        typed: what the student typed: the next line(s), or a whole ``\begin{aligned}`` block.
        assume: the box's hypotheses (``\sigma > 0``), written as a ``% assume:`` line.
    Raises:
        ValueError: nothing typed.
    """
    typed = typed.strip()
    if not typed:
        raise ValueError("type the next line first, e.g. &= \\mathbb{E}_{q(z)}\\left[\\log p(x)\\right]")
    head = f"% assume: {assume}\n" if assume.strip() else ""
    if r"\begin{aligned}" in typed:
        return head + typed, 0
    given_rows = _rows(given)
    n_given = max(0, len(given_rows) - (0 if given_rows and "&" in given_rows[0] else 1))
    rows = given_rows + [_typed_row(r) for r in _rows(typed)]
    body = " \\\\\n".join(rows)
    return f"{head}\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n", n_given


def _plain(v):
    """A JSON-safe value: a non-finite float (an infinite log-density) becomes its text."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def check(given: str, typed: str, assume: str = "", seed: int = 0) -> dict:
    """Check the student's line(s) after the given ones.

    Returns:
        ``{"ok": bool, "error": str | None, "steps": [...], "text": str}``: ``ok`` when every step of the
        student's follows; ``error`` a one-line message for unreadable input (then ``steps`` is empty);
        each step is ``{"verdict", "reason", "relation", "lhs", "rhs", "point", "left", "right", "mistake",
        "instance"}`` with ``verdict`` one of ``"follows"``, ``"does not follow"``, ``"cannot decide"``.
    """
    from derivations.check import FOLLOWS, DerivationReadError, check_derivation

    try:
        text, n_given = compose(given, typed, assume)
        res = check_derivation(text, seed=seed)
    except DerivationReadError as exc:
        return {"ok": False, "error": str(exc), "steps": [], "text": str(exc)}
    except ValueError as exc:
        return {"ok": False, "error": str(exc), "steps": [], "text": str(exc)}
    keys = ("verdict", "reason", "relation", "lhs", "rhs", "point", "left", "right", "mistake", "instance")
    steps = [{k: _plain(getattr(s, k)) for k in keys} for s in res.steps[n_given:]]
    if not steps:
        msg = "no new step: type the line that comes after the given ones"
        return {"ok": False, "error": msg, "steps": [], "text": msg}
    return {"ok": all(s["verdict"] == FOLLOWS for s in steps), "error": None, "steps": steps,
            "text": res.text()}


def check_json(given: str, typed: str, assume: str = "") -> str:
    """:func:`check` as a JSON string (what the page's worker calls)."""
    return json.dumps(check(given, typed, assume), allow_nan=False, default=str)
