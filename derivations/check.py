r"""Check your own derivation: each line of a LaTeX ``aligned`` block follows, does not follow, or cannot be decided.

>>> from derivations.check import check_derivation
>>> res = check_derivation(open("derivations/examples/elbo_gap_right.md").read())   # doctest: +SKIP
>>> print(res.text())                                                                # doctest: +SKIP

The format (a ``.md`` or ``.tex`` file, or a string)::

    % assume: \sigma > 0
    $$\begin{aligned}
    \log p(x) &= \mathbb{E}_{q(z)}\left[\log p(x)\right] && \text{a constant under } q \\
    &= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{p(z \mid x)}\right] && \text{Bayes' rule} \\
    &\ge \cdots
    \end{aligned}$$

* one ``\begin{aligned} ... \end{aligned}`` block (``$$`` around it optional; in a file with several, the first
  is checked); one step per line, lines separated
  by ``\\``; the first line is ``first expression & relation second expression``, every later line starts with
  ``&=``, ``&\ge`` or ``&\le``;
* a justification after ``&&``, or written as ``\text{...}``, is prose (kept, not checked);
* ``% assume: \sigma > 0, p(x) > 0`` lines (anywhere) give hypotheses: ``s > 0`` makes ``s`` positive,
  ``s \ge 0`` non-negative (densities are positive already); ``% assume: Leibniz`` (or
  ``\nabla \int = \int \nabla``, "differentiate under the integral sign") allows differentiating under an
  integral over an infinite interval, ``% assume: dominated convergence`` moving a limit inside an expectation --
  without them such steps are "cannot decide", as a careful lecturer would say; other ``%`` lines are comments;
* the notation is the book's, read by :mod:`derivations.latex_reader` (its docstring lists what it reads):
  ``p(x, z)``, ``p(z \mid x)``, ``p(x)``, ``p(x \mid z)``, ``p(z)`` are one model (Bayes' rule and the marginal
  :math:`p(x) = \int p(x \mid z) p(z)\,dz` are known to the checker); ``q``, ``r``, ... are other densities.

Verdicts, one per step (the link from the line before to this one):

* **follows** -- proved by the proof engine (:func:`derivations.engine.check_link`; an inequality with a
  witness the checker finds: Jensen's gap :math:`\mathbb{E}_q G(w / \mathbb{E}_q w)` or Gibbs'
  :math:`\mathbb{E}_\mu G(\nu / \mu)`, :math:`G(t) = t - 1 - \log t \ge 0`) **and** confirmed on random instances
  (:class:`derivations.instances.Instance`: the undefined densities made random tables or Gaussians, exact sums or
  quadrature).  Both are required: a step is never reported as following on one line of defence alone;
* **does not follow** -- a random instance where the two sides differ (or the inequality fails), with the
  values; when the failure is a known mistake of the field (the wrong-twin catalog of the identity modules and
  :mod:`derivations.loss_conventions`) the mistake is named, e.g. "this is KL(p(z | x) || q(z)), not
  KL(q(z) || p(z | x))";
* **cannot decide** -- neither: the engine found no proof, or the step cannot be evaluated on an instance
  (the reason is given).  The checker prefers this to a wrong "follows".

:func:`check_derivation` returns a :class:`CheckResult`; ``python -m derivations check FILE`` prints it and
exits 0 when every step follows, 1 when a step does not follow or cannot be decided, 2 on unreadable input
(one line: the line, the column and the token).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Optional

import sympy as sp
from sympy.core.function import AppliedUndef

from derivations import notation
from derivations.engine import check_link
from derivations.expectation import DENSITY_VARS, Expect, NormalPDF
from derivations.steps import PERMIT_LEIBNIZ, PERMIT_LIMIT
from derivations.instances import Instance, Unevaluable, needs_continuous
from derivations.latex_reader import KL, LatexReadError, Reader, expand_kl
from derivations.steps import Step
from derivations.witnesses import GibbsFunction

__all__ = ["check_derivation", "check_file", "CheckResult", "StepVerdict", "DerivationReadError", "parse_block",
           "FOLLOWS", "FAILS", "UNDECIDED", "cli"]

FOLLOWS, FAILS, UNDECIDED = "follows", "does not follow", "cannot decide"
#: random instances per step (discrete tables are cheap and exact; Gaussian ones need quadrature)
N_DISCRETE, N_CONTINUOUS = 4, 2
_RELS = {"=": "=", r"\ge": ">=", r"\geq": ">=", r"\geqslant": ">=", r"\le": "<=", r"\leq": "<=",
         r"\leqslant": "<=", ">=": ">=", "<=": "<="}
_REL_TEXT = {"=": "=", ">=": "≥", "<=": "≤"}


class DerivationReadError(ValueError):
    """Unreadable input: ``line`` and ``column`` (1-based, in the file) and ``token``; ``str()`` is one line."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, token: str | None = None):
        self.line, self.column, self.token = line, column, token
        super().__init__(message)


@dataclass(frozen=True)
class Row:
    """One line of the block: its expression text (columns kept: other parts blanked), relation, prose."""

    lhs: Optional[str]
    rel: Optional[str]
    rhs: str
    prose: str
    line: int  # 1-based line of the file where the row starts
    offset: int  # character offset of the row's text in the file


@dataclass(frozen=True)
class StepVerdict:
    """The verdict on one step (the link from expression ``index - 1`` to expression ``index``).

    Attributes:
        index: 1-based step number; line: the file line of the step.
        relation: ``"="``, ``">="`` or ``"<="``; lhs, rhs: the two expressions as written (LaTeX).
        verdict: :data:`FOLLOWS`, :data:`FAILS` or :data:`UNDECIDED`.
        reason: one sentence; point: the values of the free symbols where the sides differ, e.g.
        ``"μ = 0.3, σ = 1.2"`` (``None`` unless it fails); instance: the random densities there, in words;
        left, right: the two sides' values there (nats when they are log-densities);
        mistake: the named mistake of the field, or ``None``; prose: the author's justification.
    """

    index: int
    line: int
    relation: str
    lhs: str
    rhs: str
    verdict: str
    reason: str
    point: Optional[str] = None
    left: Optional[float] = None
    right: Optional[float] = None
    mistake: Optional[str] = None
    prose: str = ""
    instance: str = ""


@dataclass(frozen=True)
class CheckResult:
    """All the steps' verdicts.  ``ok``: every step follows.  ``first_failure``: the first step that does not."""

    steps: list
    hypotheses: list = field(default_factory=list)
    ignored_hypotheses: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.verdict == FOLLOWS for s in self.steps)

    @property
    def first_failure(self) -> Optional[StepVerdict]:
        return next((s for s in self.steps if s.verdict != FOLLOWS), None)

    def text(self) -> str:
        """The verdicts as lines of text (what ``python -m derivations check`` prints)."""
        out = []
        if self.hypotheses:
            out.append("assuming: " + ", ".join(self.hypotheses))
        for h in self.ignored_hypotheses:
            out.append(f"note: hypothesis not used by the checker: {h}")
        for s in self.steps:
            head = f"step {s.index} (line {s.line}, {_REL_TEXT.get(s.relation, s.relation)}): {s.verdict.upper()}"
            out.append(head + f" -- {s.reason}")
            if s.left is not None:
                where = f"at {s.point}" if s.point else ""
                if s.instance:
                    where += (" " if where else "on ") + f"({s.instance})"
                out.append(f"    {where}{': ' if where else ''}the left side is {s.left:.6g}, the right "
                           f"{s.right:.6g}")
            if s.mistake:
                out.append(f"    mistake: {s.mistake}")
        n_ok = sum(s.verdict == FOLLOWS for s in self.steps)
        fail = self.first_failure
        if fail is None:
            out.append(f"all {len(self.steps)} steps follow")
        else:
            out.append(f"{n_ok} of {len(self.steps)} steps follow; step {fail.index} (line {fail.line}) "
                       f"{fail.verdict}")
        return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------
# The block: rows, relations, prose, hypotheses (brace-aware scanning; the math itself is read by lark)
# ---------------------------------------------------------------------------------------------------------

def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _strip_comments(text: str) -> tuple[str, list]:
    """Blank every ``%`` comment (``\\%`` is a percent sign); return the text and the ``% assume:`` clauses."""
    out, assumes = [], []
    for line in text.split("\n"):
        cut = None
        for i, ch in enumerate(line):
            if ch == "%" and (i == 0 or line[i - 1] != "\\"):
                cut = i
                break
        if cut is None:
            out.append(line)
            continue
        comment = line[cut + 1:].strip()
        if comment.lower().startswith("assume:"):
            offset = sum(len(x) + 1 for x in out) + cut + 1 + line[cut + 1:].find(comment[:7]) + 7
            assumes.append((comment[7:], offset))
        out.append(line[:cut] + " " * (len(line) - cut))
    return "\n".join(out), assumes


def _split_top(s: str, sep: str, start: int = 0) -> list:
    """``(piece, offset)`` of ``s`` split at ``sep`` outside braces, brackets and parentheses."""
    pieces, depth, cur = [], 0, start
    i = start
    while i < len(s):
        ch = s[i]
        if ch == "\\" and s.startswith(sep, i) and sep.startswith("\\") and depth == 0:
            pieces.append((s[cur:i], cur))
            i += len(sep)
            cur = i
            continue
        if ch == "\\":
            i += 2
            continue
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            pieces.append((s[cur:i], cur))
            i += len(sep)
            cur = i
            continue
        i += 1
    pieces.append((s[cur:], cur))
    return pieces


def _matching_brace(s: str, j: int) -> int:
    """The index of the ``}`` that closes the ``{`` at ``s[j]`` (``len(s)`` when it is never closed)."""
    depth = 0
    while j < len(s):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return j
        j += 1
    return len(s)


def _blank_text_groups(s: str) -> tuple[str, list]:
    r"""Blank ``\text{...}``, ``\tag{...}``, ``\label{...}``, ``\notag``; return the text and the prose."""
    prose = []
    for cmd in (r"\text", r"\textrm", r"\mbox", r"\tag", r"\label", r"\notag", r"\nonumber"):
        while True:
            i = s.find(cmd + "{") if cmd not in (r"\notag", r"\nonumber") else s.find(cmd)
            if i < 0:
                break
            if cmd in (r"\notag", r"\nonumber"):
                s = s[:i] + " " * len(cmd) + s[i + len(cmd):]
                continue
            j = _matching_brace(s, i + len(cmd))
            if cmd in (r"\text", r"\textrm", r"\mbox"):
                prose.append(s[i + len(cmd) + 1:j].strip())
            s = s[:i] + " " * (j + 1 - i) + s[j + 1:]
    return s, prose


def _unwrap_text(s: str) -> str:
    r"""Prose as read: ``\text{Bayes' rule}`` -> ``Bayes' rule`` (the math in it kept as written)."""
    out, i = [], 0
    while i < len(s):
        hit = next((c for c in (r"\text{", r"\textrm{", r"\mbox{") if s.startswith(c, i)), None)
        if hit is None:
            out.append(s[i])
            i += 1
            continue
        j = _matching_brace(s, i + len(hit) - 1)
        out.append(s[i + len(hit):j])
        i = j + 1
    return " ".join("".join(out).split())


def _relation_at(s: str) -> tuple[Optional[str], int]:
    """The relation at the start of ``s`` (after spaces): ``("=", length)`` or ``(None, 0)``."""
    k = len(s) - len(s.lstrip())
    rest = s[k:]
    for tok in sorted(_RELS, key=len, reverse=True):
        if rest.startswith(tok) and not (tok[-1].isalpha() and rest[len(tok):len(tok) + 1].isalpha()):
            return _RELS[tok], k + len(tok)
    for tok in ("<", ">", r"\approx", r"\neq", r"\ne", r"\propto", r"\lt", r"\gt"):
        if rest.startswith(tok):
            return tok, k + len(tok)
    return None, 0


def parse_block(text: str) -> tuple[list, list]:
    """The rows of the ``aligned`` block and the ``% assume:`` clauses ``(text, offset)``.

    Raises :class:`DerivationReadError` when there is no block or a row is malformed.
    """
    clean, assumes = _strip_comments(text)
    begin = clean.find(r"\begin{aligned}")
    if begin < 0:
        begin_alt = clean.find(r"\begin{align*}")
        if begin_alt < 0:
            raise DerivationReadError(r"no \begin{aligned} ... \end{aligned} block found; write the derivation as "
                                      r"$$\begin{aligned} a &= b \\ &= c \end{aligned}$$", None, None, None)
        begin, env = begin_alt, "align*"
    else:
        env = "aligned"
    body_start = begin + len(r"\begin{%s}" % env)
    end = clean.find(r"\end{%s}" % env, body_start)
    if end < 0:
        line, col = _line_col(text, begin)
        raise DerivationReadError(f"line {line}, column {col}: \\begin{{{env}}} without \\end{{{env}}}", line, col,
                                  r"\begin{%s}" % env)
    rows = []
    for piece, off in _split_top(clean[:end], r"\\", body_start):
        if not piece.strip():
            continue
        math_part, *rest = [p for p, _ in _split_top(piece, "&&")]
        prose = " ".join(_unwrap_text(p).strip() for p in rest if p.strip())
        math_part, texts = _blank_text_groups(math_part)
        prose = " ".join([prose] + texts).strip()
        cells = _split_top(math_part, "&")
        line, _ = _line_col(text, off + len(piece) - len(piece.lstrip()))
        if len(cells) == 1:
            lhs, rhs_cell, rhs_off = None, cells[0][0], 0
            rel, k = _relation_at(rhs_cell)
            if rel is not None and rows:  # "= b" without the &
                rows.append(Row(None, rel, " " * k + rhs_cell[k:], prose, line, off))
                continue
            rows.append(Row(None, None, rhs_cell, prose, line, off))
            continue
        if len(cells) > 2:
            l2, c2 = _line_col(text, off + cells[2][1])
            raise DerivationReadError(f"line {l2}, column {c2 - 1}: more than one '&' in a line (put the "
                                      f"justification after '&&')", l2, c2 - 1, "&")
        (lhs_text, _), (rhs_cell, rhs_off) = cells
        rel, k = _relation_at(rhs_cell)
        if rel is None:
            l2, c2 = _line_col(text, off + rhs_off)
            raise DerivationReadError(f"line {l2}, column {c2}: expected a relation (=, \\ge or \\le) after '&'",
                                      l2, c2, rhs_cell.strip()[:12])
        blank_lhs = " " * len(lhs_text) + " "  # keep the columns of the right side
        rows.append(Row(lhs_text if lhs_text.strip() else None, rel, blank_lhs + " " * k + rhs_cell[k:], prose,
                        line, off))
    if not rows:
        raise DerivationReadError(r"the aligned block is empty", None, None, None)
    return rows, assumes


# ---------------------------------------------------------------------------------------------------------
# Reading the rows into expressions
# ---------------------------------------------------------------------------------------------------------

def _read(reader: Reader, src: str, off: int, text: str):
    try:
        return reader.read(src)
    except LatexReadError as exc:
        if exc.column is None:
            raise DerivationReadError(str(exc)) from None
        line, col = _line_col(text, off + exc.column - 1)
        msg = str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)
        raise DerivationReadError(f"line {line}, column {col}: {msg}", line, col, exc.token) from None


def _hypotheses(assumes, text) -> tuple[dict, list, list]:
    """Symbol assumptions from the ``% assume:`` clauses; the clauses (LaTeX) and those not used."""
    opts, shown, ignored = {}, [], []
    for clause, off in assumes:
        for part, poff in _split_top(clause, ","):
            if not part.strip():
                continue
            shown.append(part.strip())
            low = part.lower()
            if "leibniz" in low or ("\\nabla" in low and "\\int" in low) or "differentiat" in low:
                opts["__permit_leibniz__"] = True  # differentiation under the integral sign, stated
                continue
            if "dominated" in low or ("\\lim" in low and "\\int" in low):
                opts["__permit_limit__"] = True  # a limit inside an integral (dominated convergence), stated
                continue
            r = Reader()
            try:
                out = r.read(part)
            except LatexReadError as exc:
                line, col = _line_col(text, off + poff + (exc.column or 1) - 1)
                raise DerivationReadError(f"line {line}, column {col} (assume): {str(exc).split(': ', 1)[-1]}",
                                          line, col, exc.token) from None
            if not isinstance(out, tuple):
                ignored.append(part.strip())
                continue
            lhs, rel, rhs = out
            if isinstance(lhs, sp.Symbol) and rhs == 0 and rel in (">", ">="):
                kind = "positive" if rel == ">" else "nonnegative"
                opts[lhs.name] = {kind: True, **({"integer": True} if lhs.is_integer else {})}
                base, _, index = lhs.name.partition("_")
                if len(index) == 1 and index.islower():  # v_d > 0: every v_d of a sum over d
                    opts.setdefault(base, {kind: True})
            elif isinstance(lhs, sp.Symbol) and rel in (">", ">=") and rhs.is_number and rhs > 0:
                opts[lhs.name] = {"positive": True, **({"integer": True} if lhs.is_integer else {})}
            elif isinstance(lhs, (AppliedUndef, NormalPDF)) and rhs == 0 and rel in (">", ">="):
                continue  # densities are positive functions already
            else:
                ignored.append(part.strip())
    return opts, shown, ignored


def _model_rules(reader: Reader) -> dict:
    """Bayes' rule and the marginal for every application of the model's densities that the lines use."""
    rules = {}
    j, po, lk, pr, ev = notation.joint, notation.post, notation.lik, notation.prior, notation.evid
    zz = sp.Symbol("z", real=True)
    for apps in reader.densities.values():
        for app in apps:
            name = app.func.__name__
            a = app.args
            if name in ("p_joint", "p_lik"):  # and Bayes' rule for its posterior (a witness may bring it in)
                xv, zv, P = a[0], a[1], a[2:]
                if name == "p_joint":
                    rules[app] = lk(xv, zv, *P) * pr(zv, *P)
                rules[po(zv, xv, *P)] = lk(xv, zv, *P) * pr(zv, *P) / ev(xv, *P)
            elif name == "p_post":
                zv, xv, P = a[0], a[1], a[2:]
                rules[app] = lk(xv, zv, *P) * pr(zv, *P) / ev(xv, *P)
            if name in ("p_joint", "p_post", "p_evid", "p_lik"):
                xv = a[0] if name in ("p_joint", "p_evid", "p_lik") else a[1]
                P = a[2:] if name != "p_evid" else a[1:]
                if not xv.has(zz):
                    rules[ev(xv, *P)] = sp.Integral(lk(xv, zz, *P) * pr(zz, *P), (zz, -sp.oo, sp.oo))
    return rules


# ---------------------------------------------------------------------------------------------------------
# Numeric line of defence: random instances
# ---------------------------------------------------------------------------------------------------------

def _density_args(*exprs) -> set:
    out = set()
    for e in exprs:
        for t in sp.preorder_traversal(e):
            if isinstance(t, NormalPDF) or (isinstance(t, AppliedUndef) and t.func.__name__ in DENSITY_VARS):
                for a in t.args:
                    if isinstance(a, sp.Symbol):
                        out.add(a)
    return out


@dataclass
class _Numeric:
    holds: Optional[bool]  # None: could not evaluate
    reason: str = ""
    point: Optional[str] = None
    left: Optional[float] = None
    right: Optional[float] = None
    values: list = field(default_factory=list)  # (instance, left, right)
    model: str = ""


def _instances(a, b, seed: int):
    kind = "continuous" if needs_continuous(a, b) else "discrete"
    n = N_CONTINUOUS if kind == "continuous" else N_DISCRETE
    return [Instance(seed * 1000 + k, kind) for k in range(n)], kind


def _is_dens(t) -> bool:
    return isinstance(t, NormalPDF) or (isinstance(t, AppliedUndef) and t.func.__name__ in DENSITY_VARS)


def _holds(va, vb, rel, kind) -> bool:
    tol = (1e-6 if kind == "continuous" else 1e-9) * (1 + abs(va) + abs(vb))
    if rel == "=":
        return abs(va - vb) <= tol
    if rel == ">=":
        return va >= vb - tol
    return va <= vb + tol


def _numeric(a, b, rel, seed) -> _Numeric:
    insts, kind = _instances(a, b, seed)
    dargs = _density_args(a, b)
    res = _Numeric(True)
    for inst in insts:
        try:
            inst.assign([a, b], dargs)
            va, vb = inst.value(a), inst.value(b)
        except Unevaluable as exc:
            return _Numeric(None, f"no random instance could evaluate it ({exc})")
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            return _Numeric(None, f"no random instance could evaluate it ({type(exc).__name__})")
        if not _holds(va, vb, rel, kind):
            res.values.append((inst, va, vb))
            return _Numeric(False, "", inst.describe(a.free_symbols | b.free_symbols), va, vb, values=res.values,
                            model=inst.describe_model())
        res.values.append((inst, va, vb))
    res.reason = f"holds on {len(insts)} random {kind} instances"
    return res


def _holds_everywhere(a, b, rel, seed) -> bool:
    try:
        return _numeric(a, b, rel, seed).holds is True
    except Exception:  # a repair that cannot be evaluated names nothing
        return False


# ---------------------------------------------------------------------------------------------------------
# Symbolic line: the engine, with witnesses for the textbook inequalities
# ---------------------------------------------------------------------------------------------------------

def _witnesses(a, b) -> list:
    """Candidate witnesses W >= 0 of an inequality between ``a`` and ``b`` (Jensen's and Gibbs' gaps)."""
    cands = []
    for e in (a, b):
        for log_term in e.atoms(sp.log):
            inner = log_term.args[0]
            if isinstance(inner, Expect):
                cands.append(Expect(GibbsFunction(inner.expr / inner), inner.var, inner.dens))
    dens_by_var: dict = {}
    for e in (a, b):
        for t in sp.preorder_traversal(e):
            if isinstance(t, NormalPDF) or (isinstance(t, AppliedUndef) and t.func.__name__ in DENSITY_VARS):
                if t.args and isinstance(t.args[0], sp.Symbol):
                    dens_by_var.setdefault(t.args[0], [])
                    if t not in dens_by_var[t.args[0]]:
                        dens_by_var[t.args[0]].append(t)
    for e in (a, b):  # the model's posterior p(z | x) of every joint, likelihood or prior that is used
        for t in sp.preorder_traversal(e):
            if isinstance(t, AppliedUndef) and t.func.__name__ in ("p_joint", "p_lik"):
                xa, za, P = t.args[0], t.args[1], t.args[2:]
                if isinstance(za, sp.Symbol):
                    dens_by_var.setdefault(za, [])
                    post = notation.post(za, xa, *P)
                    if post not in dens_by_var[za]:
                        dens_by_var[za].append(post)

    def gibbs(ex):
        return [Expect(GibbsFunction(nu / ex.dens), ex.var, ex.dens) for nu in dens_by_var.get(ex.var, []) if nu != ex.dens]

    for e in (a, b):
        for ex in e.atoms(Expect):
            cands += gibbs(ex)
        for sm in e.atoms(sp.Sum):  # an average of KLs: the sum (and the mean) of their witnesses
            if len(sm.limits) == 1 and isinstance(sm.function, (Expect, sp.Add, sp.Mul)):
                for ex in sm.function.atoms(Expect):
                    for w in gibbs(ex):
                        cands += [sp.Sum(w, sm.limits[0]), sp.Sum(w, sm.limits[0]) / sm.limits[0][2]]
    return list(dict.fromkeys(cands))[:12]


def _doit_derivatives(e):
    """Evaluate the derivatives of plain expressions (d/dphi log q = q'/q); those of expectations, integrals and
    sums are left to the engine's rules."""
    return e.replace(lambda t: isinstance(t, sp.Derivative) and not t.expr.has(Expect, sp.Integral, sp.Sum),
                     lambda t: t.doit())


def _symbolic(a, b, rel, rules, seed) -> tuple[bool, str]:
    a, b = _doit_derivatives(a), _doit_derivatives(b)
    try:
        if rel == "=":
            ok, detail = check_link(Step(a, "line before"), Step(b, "this line"), seed=seed, rules=rules)
            return ok, detail
        for w in _witnesses(a, b):  # the textbook witnesses first: cheap, and what a lecturer would use
            ok, _ = check_link(Step(a, "line before"), Step(b, "this line", rel=rel, witness=w), seed=seed,
                               rules=rules)
            if ok:
                return True, f"witness {sp.sstr(w)}"
        if (a - b).has(Expect, sp.Integral, sp.Sum, AppliedUndef):
            return False, "no witness found"  # the engine's simplify() of such a difference takes seconds
        return check_link(Step(a, "line before"), Step(b, "this line", rel=rel), seed=seed, rules=rules)
    except Exception as exc:  # an engine crash is no proof
        return False, f"the engine raised {type(exc).__name__}"


# ---------------------------------------------------------------------------------------------------------
# Naming the mistake (the catalog of wrong twins)
# ---------------------------------------------------------------------------------------------------------

def _dens_text(d) -> str:
    if isinstance(d, NormalPDF):
        z, m, v = d.args
        return f"N({sp.sstr(z)}; {sp.sstr(m)}, {sp.sstr(v)})"
    name = d.func.__name__
    letter = "p" if name.startswith("p_") or name.startswith("p[") else name.split("[")[0]
    n = DENSITY_VARS.get(name, 1)
    head = ", ".join(sp.sstr(a) for a in d.args[:n])
    tail = ", ".join(sp.sstr(a) for a in d.args[n:])
    return f"{letter}({head}{' | ' + tail if tail else ''})"


def _name_mistake(a_kl, b_kl, rel, seed, numeric: _Numeric) -> Optional[str]:
    a, b = expand_kl(a_kl), expand_kl(b_kl)
    # 1. a reversed inequality
    if rel in (">=", "<="):
        other = "<=" if rel == ">=" else ">="
        if _holds_everywhere(a, b, other, seed):
            jensen = any(isinstance(l.args[0], (Expect, sp.Sum)) for e in (a, b) for l in e.atoms(sp.log))
            if jensen:
                return ("a reversed Jensen: the log is concave, so log E[w] >= E[log w] -- the inequality goes the "
                        "other way (jensen~reversed)")
            if a_kl.has(KL) or b_kl.has(KL):
                return "the inequality goes the other way round: a KL divergence is never negative (Gibbs)"
            return "the inequality goes the other way round"
    # 2. a KL in the wrong direction
    for side, expr in (("right", b_kl), ("left", a_kl)):
        for node in expr.atoms(KL):
            P, Q, v = node.args
            swapped = expr.xreplace({node: KL(Q, P, v)})
            na, nb = (a, expand_kl(swapped)) if side == "right" else (expand_kl(swapped), b)
            if _holds_everywhere(na, nb, rel, seed):
                return (f"KL in the wrong direction: this is KL({_dens_text(P)} || {_dens_text(Q)}), not "
                        f"KL({_dens_text(Q)} || {_dens_text(P)}) -- the KL of the ELBO takes its expectation under "
                        f"the approximation q (the catalog's elbo_gap~kl_reversed)")
        for node in expr.atoms(KL):
            flipped = expr.xreplace({node: -node})
            na, nb = (a, expand_kl(flipped)) if side == "right" else (expand_kl(flipped), b)
            if _holds_everywhere(na, nb, rel, seed):
                return "the KL's sign is flipped: log p(x) = ELBO + KL, so ELBO = log p(x) - KL (elbo_gap~kl_sign)"
    # 3. log sigma for log sigma^2 (and the reverse)
    for s in sorted(b.free_symbols, key=lambda t: t.name):
        for old, new in ((sp.log(s), 2 * sp.log(s)), (sp.log(s), sp.log(s) / 2), (sp.log(s ** 2), sp.log(s)),
                         (sp.log(s), sp.log(s ** 2))):
            if b.has(old):
                nb = b.xreplace({old: new})
                if nb != b and _holds_everywhere(a, nb, rel, seed):
                    return (f"log {s} for log {s}^2 (or the reverse): the Gaussian KL has log sigma^2 = 2 log sigma "
                            f"(loss_conventions.check_logvar; gaussian_kl~logdet_from_std)")
    # 4. a score function without the log
    for d in b.atoms(sp.Derivative):
        if isinstance(d.expr, AppliedUndef) and d.expr.func.__name__ in DENSITY_VARS:
            nb = b.xreplace({d: sp.Derivative(sp.log(d.expr), *d.variables)})
            if _holds_everywhere(a, nb, rel, seed):
                return ("a score function without the log: grad E_q[f] = E_q[f grad log q], not E_q[f grad q] "
                        "(score_function_gradient~no_log)")
    # 5. constant offsets and factors seen on the instances
    vals = numeric.values
    if vals and rel == "=":
        diffs = [va - vb for _, va, vb in vals]
        syms = {s.name: s for s in (a.free_symbols | b.free_symbols)}
        if all(abs(d - diffs[0]) < 1e-6 * (1 + abs(d)) for d in diffs) and abs(abs(diffs[0]) - 0.5) < 1e-6:
            return ("a missing -1 in the Gaussian KL: KL(N(mu, sigma^2) || N(0, 1)) = (sigma^2 + mu^2 - 1 - "
                    "log sigma^2) / 2 (gaussian_kl~missing_D)")
        for name, msg in (("D", "a missing -D in the Gaussian KL: (tr Sigma + mu^T mu - D - log det Sigma) / 2 "
                                "(gaussian_kl~missing_D)"),):
            if name in syms:
                sym = syms[name]
                ratios = [d / inst.values.get(sym, float("nan")) for (inst, _, _), d in zip(vals, diffs)]
                if all(abs(abs(r) - 0.5) < 1e-6 for r in ratios):
                    return msg
        if "K" in syms:
            K = syms["K"]
            if all(abs(abs(d) - math.log(inst.values.get(K, 1.0))) < 1e-6 for (inst, _, _), d in zip(vals, diffs)) \
                    and any(inst.values.get(K, 1.0) > 1 for inst, _, _ in vals):
                return ("the IWAE bound without 1/K: log (1/K) sum_k w_k, not log sum_k w_k "
                        "(evidence_monte_carlo~iwae_no_1_over_K)")
        ratios = [va / vb for _, va, vb in vals if vb != 0]
        if ratios and len(ratios) == len(vals):
            ln2 = math.log(2)
            if all(abs(r - ln2) < 1e-6 for r in ratios) or all(abs(r - 1 / ln2) < 1e-6 for r in ratios):
                return "bits for nats: a factor log 2 = 0.693 apart (loss_conventions.check_units; gaussian_kl~bits)"
            if "N" in syms and "M" in syms:
                N, M = syms["N"], syms["M"]
                nm = [inst.values.get(N, 1.0) / inst.values.get(M, 1.0) for inst, _, _ in vals]
                if all(abs(r - q) < 1e-6 * q or abs(r - 1 / q) < 1e-6 / q for r, q in zip(ratios, nm)):
                    return "N/M weighting: a term weighted by N/M (or M/N) (loss_conventions.check_kl_weight)"
    # 6. a flow without its log-determinant
    def logdets(e):
        return [l for l in e.atoms(sp.log) if l.args[0].has(sp.Function("det", real=True)) or
                (isinstance(l.args[0], sp.Abs) and l.args[0].has(sp.Derivative))]
    if logdets(a) and not logdets(b):
        return ("a flow without its log-determinant: log p(x) = log p(f(x)) + log |det J_f(x)| "
                "(flow_as_dirac_vae~no_logdet)")
    return None


# ---------------------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------------------

def check_derivation(text: str, seed: int = 0) -> CheckResult:
    r"""Check every step of the ``aligned`` block in ``text`` (see the module docstring for the format).

    Args:
        text: the file's contents (Markdown or LaTeX) holding one ``\begin{aligned} ... \end{aligned}`` block.
        seed: seed of the random instances (the verdicts do not depend on it unless a step is wrong on only
            some instances).
    Returns:
        :class:`CheckResult` (``.ok``, ``.steps``, ``.text()``).
    Raises:
        DerivationReadError: unreadable input; the message names the line, the column and the token.
    """
    rows, assumes = parse_block(text)
    opts, shown, ignored = _hypotheses(assumes, text)
    permits = {k: opts.pop(k) for k in ("__permit_leibniz__", "__permit_limit__") if k in opts}
    reader = Reader(assume=opts)
    exprs, rels, lines, prose, srcs = [], [], [], [], []
    # pass 1 collects the densities (to resolve bare letters such as KL(q || p)); pass 2 reads for good
    for attempt in (1, 2):
        exprs, rels, lines, prose, srcs = [], [], [], [], []
        for k, row in enumerate(rows):
            try:
                if k == 0:
                    if row.lhs is not None:
                        exprs.append(_read(reader, row.lhs, row.offset, text))
                        srcs.append(row.lhs.strip())
                        rels.append(None)
                        lines.append(row.line)
                        prose.append("")
                    elif row.rel is not None:
                        raise DerivationReadError(f"line {row.line}: the first line must start with an expression, "
                                                  f"not with a relation", row.line, 1, row.rel)
                if k > 0 and row.rel is None:
                    raise DerivationReadError(f"line {row.line}: every line after the first starts with &=, &\\ge or "
                                              f"&\\le", row.line, 1, row.rhs.strip()[:12])
                if k > 0 and row.lhs is not None:
                    raise DerivationReadError(f"line {row.line}: a line after the first starts with '&' and its "
                                              f"relation (the expression before '&' is the previous line's)",
                                              row.line, 1, row.lhs.strip()[:12])
                exprs.append(_read(reader, row.rhs, row.offset, text))
                if isinstance(exprs[-1], tuple):
                    raise DerivationReadError(f"line {row.line}: two relations in one line; write one step per line, "
                                              f"each after '&'", row.line, 1, exprs[-1][1])
                srcs.append(row.rhs.strip())
                rels.append(row.rel)
                lines.append(row.line)
                prose.append(row.prose)
            except DerivationReadError:
                if attempt == 2:
                    raise
    if len(exprs) < 2:
        raise DerivationReadError("the block holds one expression and no step; write at least 'a &= b'")
    if isinstance(exprs[0], tuple):
        raise DerivationReadError(f"line {lines[0]}: two relations in the first line; write one step per line, "
                                  f"each after '&'", lines[0], 1, exprs[0][1])
    rules = _model_rules(reader)
    if permits.get("__permit_leibniz__"):
        rules[PERMIT_LEIBNIZ] = sp.true
    if permits.get("__permit_limit__"):
        rules[PERMIT_LIMIT] = sp.true
    verdicts = []
    for i in range(1, len(exprs)):
        verdicts.append(_check_step(i, exprs[i - 1], exprs[i], rels[i], rules, seed + i, lines[i], srcs[i - 1],
                                    srcs[i], prose[i]))
    return CheckResult(verdicts, shown, ignored)


def _check_step(i, a_kl, b_kl, rel, rules, seed, line, lhs_src, rhs_src, prose) -> StepVerdict:
    base = dict(index=i, line=line, relation=rel, lhs=lhs_src, rhs=rhs_src, prose=prose)
    if rel not in ("=", ">=", "<="):
        return StepVerdict(**base, verdict=UNDECIDED, reason=f"the relation {rel} is not checked (only =, \\ge, \\le)")
    a, b = expand_kl(a_kl), expand_kl(b_kl)
    try:
        num = _numeric(a, b, rel, seed)
    except Exception as exc:  # pragma: no cover - a numeric crash decides nothing
        num = _Numeric(None, f"the random instances raised {type(exc).__name__}")
    if num.holds is False:
        try:
            mistake = _name_mistake(a_kl, b_kl, rel, seed, num)
        except Exception:  # pragma: no cover - naming is a courtesy; the verdict stands without it
            mistake = None
        what = {"=": "the two sides differ", ">=": "the left side is smaller", "<=": "the left side is larger"}[rel]
        return StepVerdict(**base, verdict=FAILS, reason=f"{what} on a random instance", point=num.point,
                           left=num.left, right=num.right, mistake=mistake, instance=num.model)
    ok, detail = _symbolic(a, b, rel, rules, seed)
    if ok and num.holds:
        how = "proved by the engine" + (f" ({detail})" if detail.startswith("witness") else "")
        return StepVerdict(**base, verdict=FOLLOWS, reason=f"{how}; {num.reason}")
    if ok:
        return StepVerdict(**base, verdict=UNDECIDED, reason=f"the engine's rules prove it, but {num.reason}, so "
                                                             f"it is not confirmed")
    if num.holds:
        return StepVerdict(**base, verdict=UNDECIDED, reason=f"{num.reason}, but the engine found no proof")
    return StepVerdict(**base, verdict=UNDECIDED, reason=f"the engine found no proof and {num.reason}")


def check_file(path) -> CheckResult:
    """:func:`check_derivation` of a ``.md`` or ``.tex`` file (UTF-8)."""
    from pathlib import Path

    return check_derivation(Path(path).read_text(encoding="utf-8"))


def cli(argv: list) -> int:
    """``python -m derivations check FILE``: print the verdicts; exit 0 all follow, 1 a step fails or cannot be
    decided, 2 unreadable input or a bad argument."""
    from pathlib import Path

    prog = "python -m derivations check"
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        if argv[:1] in (["-h"], ["--help"]):
            print(f"usage: {prog} FILE  (a .md or .tex file with one \\begin{{aligned}} block; see "
                  f"derivations.check)")
            return 0
        print(f"{prog}: error: give one file, e.g. {prog} derivations/examples/elbo_gap_right.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    if path.suffix not in (".md", ".tex"):
        print(f"{prog}: error: {path} is not a .md or .tex file", file=sys.stderr)
        return 2
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{prog}: error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"{prog}: error: {path} is not UTF-8 text", file=sys.stderr)
        return 2
    try:
        res = check_derivation(text)
    except DerivationReadError as exc:
        print(f"{prog}: error: {path}: {exc}", file=sys.stderr)
        return 2
    print(res.text())
    return 0 if res.ok else 1
