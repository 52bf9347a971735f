r"""The :class:`Identity`: statement, derivations, scope, model, numeric check and wrong twins.

Finally the *statement* (what the book and the scenes render with ``sympy.latex``) is tied to the chain:
after substituting its display symbols by their definitions, its left side must reduce to the first step
and its right side to the last one.  So the formula shown is the formula proved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import sympy as sp

from derivations.engine import chain_relation, check_link, prove_chain
from derivations.steps import (DOMINATED_CONVERGENCE, DOMINATED_CONVERGENCE_PROSE, LEIBNIZ, LEIBNIZ_PROSE,
                              PERMIT_LEIBNIZ, PERMIT_LIMIT, Derivation,
                              NumericResult, ProofResult, Step)

__all__ = ["Identity", "make_identity", "INSTANCE_SCOPE", "PROVED_MEANS", "title_overclaims"]

#: What "proved" means here, in one sentence (the book's intro and every verification section show it).
PROVED_MEANS = (
    "“Proved” means: every link of every chain was reduced to zero (an inequality: its witness shown "
    "non-negative from its definition) by the engine's stated rules, each applied only under its side conditions, "
    "and the same link also held numerically on three random concrete models (random normalized densities, "
    "random smooth functions, small random sizes N, K, D); what a proof takes as given is named in its theorem.")

#: Scope of an identity whose main chain is proved only on its worked instance.
INSTANCE_SCOPE = "on the worked instance stated in the model below"


@dataclass
class Identity:
    r"""One ELBO identity: statement, derivation(s), numeric check and wrong twins.

    ``build`` is called once, lazily, and returns a dict with keys

    * ``statement`` -- a SymPy relational over display symbols;
    * ``steps`` -- the main chain (``list[Step]``); ``kind`` (``"general"`` or ``"instance"``, default
      ``"instance"``) and ``title`` (Markdown) of the main derivation;
    * ``definitions`` -- display symbol or model quantity -> expression; substituted in every link, in every
      step's display form and in the statement (a rule such as Bayes' :math:`p(z \mid x) = p(x, z) / p(x)`);
    * ``hypotheses`` -- what the statement assumes: LaTeX strings (``r"y_k > 0"``, carried by the symbols'
      assumptions) or SymPy ``Eq`` s, which are also used as rewrite rules (``Eq(Sum(w[k], (k, 1, K)), 1)``);
    * ``scope`` -- the sentence of the theorem box saying what was proved, e.g. "for all $N \ge 1$ and every
      $q(z \mid x_n)$"; default :data:`INSTANCE_SCOPE`;
    * ``model`` -- Markdown (``$...$`` math) stating the worked instance's model, shown before its symbols;
    * ``side`` -- more :class:`Derivation` s (``kind`` ``"instance"`` for worked examples, ``"lemma"``);
    * ``given`` -- sentences naming what the proof takes as given (see :attr:`taken_as_given`).

    ``check_fn(seed) -> NumericResult``.  ``twin_factories`` build the wrong twins (themselves
    :class:`Identity` objects) on first access.  Nothing heavy runs at construction time.
    """

    name: str
    title: str
    source: str
    build: Callable[[], dict] = field(repr=False)
    check_fn: Callable[[int], NumericResult] = field(repr=False)
    twin_factories: list = field(default_factory=list, repr=False)
    mistake: str = ""  # for wrong twins: what the plausible mistake is
    _built: Optional[dict] = field(default=None, init=False, repr=False)
    _twins: Optional[list] = field(default=None, init=False, repr=False)

    def _get(self) -> dict:
        if self._built is None:
            self._built = self.build()
        return self._built

    @property
    def statement(self) -> sp.Basic:
        """SymPy relational (``Eq``, ``GreaterThan``...) to render with ``sympy.latex``."""
        return self._get()["statement"]

    @property
    def definitions(self) -> dict:
        """Display symbol / model quantity -> expression, substituted in every link and in the statement."""
        return self._get().get("definitions", {})

    @property
    def hypotheses(self) -> list:
        """The statement's hypotheses, as LaTeX strings (``Eq`` hypotheses rendered with ``sympy.latex``)."""
        return [h if isinstance(h, str) else sp.latex(h) for h in self._get().get("hypotheses", [])]

    @property
    def rules(self) -> dict:
        """Rewrite rules of the proof: the definitions plus every ``Eq`` hypothesis (lhs -> rhs)."""
        out = dict(self.definitions)
        for h in self._get().get("hypotheses", []):
            if isinstance(h, sp.Equality):
                out[h.lhs] = h.rhs
            elif isinstance(h, str) and states_leibniz(h):
                out[PERMIT_LEIBNIZ] = sp.true
            elif isinstance(h, str) and states_dominated_convergence(h):
                out[PERMIT_LIMIT] = sp.true
        return out

    @property
    def taken_as_given(self) -> list:
        r"""What the proof assumes without checking it, as Markdown sentences (``$...$`` math), for the theorem box.

        Collected from: the build's ``"given"`` list (e.g. the flow's Taylor expansions, stated as rules), every
        :class:`~derivations.steps.Step` with ``given`` (e.g. EM's M-step gain), the rules listed under
        :data:`~derivations.steps.GIVEN_RULES` (claims no rule checks, e.g. IWAE's
        $\mathbb{E}[\bar w] = p(x)$), and the stated hypotheses that unlock a rule (differentiation under the
        integral sign, dominated convergence).  Everything else in the proof is checked: by the rules, and on
        random instances.
        """
        from derivations.engine import given_rules

        out = list(self._get().get("given", []))
        for der in self.derivations:
            out += [st.given for st in der.steps if st.given]
        rules = self.rules
        for lhs in given_rules(rules):
            out.append(f"${sp.latex(lhs)} = {sp.latex(rules.get(lhs, lhs))}$")
        for h in self._get().get("hypotheses", []):
            if isinstance(h, str) and states_leibniz(h):
                out.append(LEIBNIZ_PROSE)
            elif isinstance(h, str) and states_dominated_convergence(h):
                out.append(DOMINATED_CONVERGENCE_PROSE)
        return list(dict.fromkeys(out))

    @property
    def scope(self) -> str:
        """What the theorem box says was proved (Markdown with ``$...$``)."""
        return self._get().get("scope", INSTANCE_SCOPE)

    @property
    def model(self) -> str:
        """Markdown (``$...$`` math) stating the worked instance's model ("" if there is none)."""
        return self._get().get("model", "")

    @property
    def kind(self) -> str:
        """``"general"`` if the main chain proves the statement in general, else ``"instance"``."""
        return self._get().get("kind", "instance")

    @property
    def statement_tex(self) -> str:
        """The statement as the author wrote it in LaTeX (read back and proved equal to :attr:`statement`)."""
        return self._get().get("statement_tex", "")

    @property
    def names(self) -> dict:
        """Literal LaTeX -> SymPy object: the named quantities the written lines use (see
        :mod:`derivations.latex`); the display symbols of :mod:`derivations.notation` are always known."""
        return self._get().get("names", {})

    @property
    def symbols(self) -> dict:
        """LaTeX of a symbol -> what it means, for the symbols this identity introduces (the notation page
        defines the shared ones); the theorem box lists them before the derivation uses them."""
        return self._get().get("symbols", {})

    @property
    def steps(self) -> list:
        """The main derivation: ``list[Step]``."""
        return self._get()["steps"]

    @property
    def side(self) -> list:
        """Side derivations (``list[Derivation]``): worked instances, lemmas, equality cases."""
        return self._get().get("side", [])

    @property
    def derivations(self) -> list:
        """All derivations, main first (``Derivation("main", steps, title, kind)``)."""
        main = Derivation("main", self.steps, self._get().get("title", ""), self.kind,
                          names=self._get().get("main_names"))
        return [main] + list(self.side)

    @property
    def wrong_twins(self) -> list:
        """Plausible mistakes (``list[Identity]``) that :meth:`prove` and :meth:`check` must reject."""
        if self._twins is None:
            self._twins = [f() for f in self.twin_factories]
        return self._twins

    def prove(self) -> ProofResult:
        """Check every derivation link and tie the statement to the main chain.  Never raises on a bad step."""
        try:
            rules = self.rules
            for der in self.derivations:
                claim = title_overclaims(der, rules)
                if claim:
                    return ProofResult(False, None, f"[{der.label}] {claim}", der.label)
                res = prove_chain(der.steps, der.label, rules=rules)
                if not res.ok:
                    return res
            res = self._prove_statement(rules)
            if not res.ok:
                return res
            from derivations.latex import written_problems

            problems = written_problems(self)
            if problems:
                return ProofResult(False, None, "written lines: " + "; ".join(problems), "written")
            return res
        except Exception as exc:  # a SymPy crash is a failed proof, reported, not a traceback
            return ProofResult(False, None, f"proof raised {type(exc).__name__}: {exc}")

    def _prove_statement(self, rules: dict) -> ProofResult:
        st = self.statement
        steps = self.steps
        rel = chain_relation(steps)
        kinds = {sp.Eq: "=", sp.GreaterThan: ">=", sp.LessThan: "<="}
        st_rel = kinds.get(type(st))
        if st_rel is None:
            return ProofResult(False, None, f"statement is not an Eq/>=/<= relational: {st}")
        if st_rel != rel:
            return ProofResult(False, None, f"statement relation '{st_rel}' but the chain proves '{rel}'")
        ok1, d1 = check_link(Step(st.lhs, "statement lhs"), Step(steps[0].expr, "first step"), rules=rules)
        ok2, d2 = check_link(Step(st.rhs, "statement rhs"), Step(steps[-1].expr, "last step"), rules=rules)
        if not ok1:
            return ProofResult(False, 0, f"statement's left side is not step 0: {d1}")
        if not ok2:
            return ProofResult(False, len(steps) - 1, f"statement's right side is not the last step: {d2}")
        n = sum(len(d.steps) - 1 for d in self.derivations)
        return ProofResult(True, None, f"proved: {n} links in {len(self.derivations)} derivation(s); statement matches")

    def check(self, seed: int = 0) -> NumericResult:
        """Run the numeric check with a fixed seed.  Deterministic for a given seed."""
        return self.check_fn(seed)

    def latex(self) -> str:
        r"""The statement as written (:func:`derivations.latex.statement_tex`: ``statement_tex``, read back and
        proved equal to :attr:`statement`; SymPy's printing when an identity has none)."""
        from derivations.latex import statement_tex

        return statement_tex(self)

    def statement_latex(self) -> str:
        r"""The statement with its hypotheses, e.g. ``\log E[y] \ge E[\log y] \quad (y > 0)``."""
        hyps = self.hypotheses
        return self.latex() + (r" \qquad \left(" + r",\ ".join(hyps) + r"\right)" if hyps else "")


def states_leibniz(h: str) -> bool:
    r"""Does the hypothesis string state differentiation under the integral sign (:data:`LEIBNIZ`, or a
    lecturer's own wording: "\nabla \int = \int \nabla", "Leibniz", "differentiate under the integral")?"""
    low = h.lower()
    return h == LEIBNIZ or "leibniz" in low or ("\\nabla" in h and "\\int" in h) or "under the integral" in low


def states_dominated_convergence(h: str) -> bool:
    r"""Does the hypothesis string state the exchange of a limit and an integral (:data:`DOMINATED_CONVERGENCE`,
    "dominated convergence", "\lim \int = \int \lim")?"""
    return h == DOMINATED_CONVERGENCE or "dominated" in h.lower() or ("\\lim" in h and "\\int" in h)


def title_overclaims(der: Derivation, rules: dict) -> str:
    """Why a derivation's kind or title claims more than its chain proves ("" if it does not).

    A title "for every $K$ ..." (every, all, each, any) needs a symbol $K$ in the chain it heads: a chain on
    $K = 3$ does not prove a statement for every $K$.
    """
    import re

    from derivations.engine import apply_rules

    exprs = [apply_rules(st.expr, rules) for st in der.steps] + [st.expr for st in der.steps]
    names = {str(sym) for e in exprs for sym in e.free_symbols}
    names |= {str(lim[2]) for e in exprs for t in e.atoms(sp.Sum) for lim in t.limits}
    for m in re.finditer(r"(?:every|all|each|any)\s+\$\s*([A-Za-z])\s*(?:\\ge|\\geq|>|\$)", der.title or ""):
        sym = m.group(1)
        if not any(n == sym or n.startswith(sym + "_") for n in names) and not any(
                sym in str(e) for e in exprs):
            return f"its title claims a statement for every ${sym}$, but no symbol {sym} appears in its chain"
    return ""


def make_identity(name: str, title: str, source: str, build: Callable, check: Callable, twins: dict) -> Identity:
    """Build an :class:`Identity` and its wrong twins from one builder and one checker.

    ``build(mistake) -> dict`` and ``check(seed, mistake) -> NumericResult`` are called with
    ``mistake=None`` for the true identity and with each key of ``twins`` (a short key naming the mistake ->
    the mistake in words and math) for the wrong twins, so the twins go through *the same* proof machinery and
    numeric check.
    Twins are named ``"<name>~<mistake>"``.
    """

    def make(mistake=None) -> Identity:
        return Identity(
            name=name if mistake is None else f"{name}~{mistake}",
            title=title if mistake is None else f"WRONG: {twins[mistake]}",
            source=source,
            build=lambda: build(mistake),
            check_fn=lambda seed=0: check(seed, mistake),
            twin_factories=[] if mistake is not None else [lambda t=t: make(t) for t in twins],
            mistake="" if mistake is None else twins[mistake],
        )

    return make(None)
