/* ELBO Lab: search results show math as text ("KL(q ‖ p)"), not as raw TeX ("\mathrm{KL}(q \,\Vert\, p)").
 * Wraps Sphinx's Search.htmlToText (searchtools.js), which the result snippets are cut from. */
(() => {
  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η", theta: "θ",
    lambda: "λ", mu: "μ", nu: "ν", pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", varphi: "φ", psi: "ψ",
    omega: "ω", Sigma: "Σ", Phi: "Φ", Omega: "Ω", Delta: "Δ", Gamma: "Γ", nabla: "∇", partial: "∂",
    sum: "Σ", prod: "Π", int: "∫", infty: "∞", cdot: "·", times: "×", odot: "⊙", mid: "|", Vert: "‖",
    ge: "≥", geq: "≥", le: "≤", leq: "≤", ne: "≠", neq: "≠", approx: "≈", to: "→", rightarrow: "→",
    sim: "~", in: "∈", log: "log", exp: "exp", det: "det", lim: "lim", max: "max", min: "min",
  };
  const FONTS = { mathbb: { E: "𝔼", R: "ℝ", H: "ℍ", I: "𝕀" }, mathcal: { L: "𝓛", N: "𝒩" } };
  const texToText = (tex) => tex
    .replace(/\\(mathbb|mathcal)\{(\w)\}/g, (m, font, c) => (FONTS[font] && FONTS[font][c]) || c)
    .replace(/\\(?:d|t)?frac\{([^{}]*)\}\{([^{}]*)\}/g, "($1)/($2)")
    .replace(/\\(?:left|right|big|Big|bigg|Bigg|displaystyle|textstyle|limits|nolimits)\b/g, "")
    .replace(/\\(?:mathrm|operatorname|text|mathit|mathbf|boldsymbol)\{([^{}]*)\}/g, "$1")
    .replace(/\\\|/g, "‖")
    .replace(/\\[,;:! ]|\\q?quad\b/g, " ")
    .replace(/\\([A-Za-z]+)/g, (m, name) => SYMBOLS[name] || name)
    .replace(/[{}]/g, "")
    .replace(/\s+/g, " ");
  const plain = (text) => text
    .replace(/\\\((.*?)\\\)/gs, (m, tex) => texToText(tex))
    .replace(/\\\[(.*?)\\\]/gs, (m, tex) => texToText(tex))
    .replace(/\$\$(.*?)\$\$/gs, (m, tex) => texToText(tex));
  const install = () => {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.htmlToText.elboWrapped) return;
    const original = Search.htmlToText;
    Search.htmlToText = (html, anchor) => plain(original(html, anchor));
    Search.htmlToText.elboWrapped = true;
  };
  install();
  document.addEventListener("DOMContentLoaded", install);
})();
