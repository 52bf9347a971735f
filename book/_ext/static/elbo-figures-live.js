/* ELBO Lab: interactive figures computed in the page (book/_ext/elbo_figures_live.py, issue 22).
 *
 * Plain SVG, no library, nothing fetched.  Each formula is the closed form of the Python module named beside it;
 * tests/book/test_live_figures.py moves every control in Chromium and compares the numbers shown here with
 * the Python values.  Every number is in nats.
 */
(function () {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  const LOG_2PI = Math.log(2 * Math.PI);
  let uid = 0;

  // ------------------------------------------------------------------------------------------ formulas
  // $\log \mathcal{N}(y; \mu, \sigma^2) = -\tfrac12 \log 2\pi\sigma^2 - (y - \mu)^2 / 2\sigma^2$
  function logNormal(y, mean, variance) {
    return -0.5 * (LOG_2PI + Math.log(variance)) - (y - mean) * (y - mean) / (2 * variance);
  }

  // The linear-Gaussian model (derivations/models/linear_gaussian.py):
  // $z \sim \mathcal{N}(0,1)$, $x \mid z \sim \mathcal{N}(wz + b, s^2)$, $q(z) = \mathcal{N}(m, v)$.
  const linearGaussian = {
    // $\log p(x) = \log \mathcal{N}(x; b, w^2 + s^2)$
    logEvidence: (p) => logNormal(p.x, p.b, p.w * p.w + p.s * p.s),
    // $m_\star = w (x - b) / (w^2 + s^2)$, $v_\star = s^2 / (w^2 + s^2)$
    posterior: (p) => ({ mean: p.w * (p.x - p.b) / (p.w * p.w + p.s * p.s), variance: p.s * p.s / (p.w * p.w + p.s * p.s) }),
    elbo(p, m, v) {
      // $\mathbb{E}_q \log p(x \mid z) = -\tfrac12 \log 2\pi s^2 - ((x - wm - b)^2 + w^2 v) / 2s^2$
      const r = p.x - p.w * m - p.b;
      const recon = -0.5 * Math.log(2 * Math.PI * p.s * p.s) - (r * r + p.w * p.w * v) / (2 * p.s * p.s);
      // $\mathbb{E}_q \log p(z) = -\tfrac12 \log 2\pi - \tfrac12 (m^2 + v)$
      const prior = -0.5 * LOG_2PI - 0.5 * (m * m + v);
      // $\mathbb{H}[q] = \tfrac12 \log 2\pi e v$
      const entropy = 0.5 * Math.log(2 * Math.PI * Math.E * v);
      return recon + prior + entropy;
    },
    // $\mathrm{KL}(q \| p(z \mid x)) = \tfrac12 (\log(v_\star / v) + (v + (m - m_\star)^2) / v_\star - 1)$
    kl(p, m, v) {
      const post = linearGaussian.posterior(p);
      return 0.5 * (Math.log(post.variance / v) + (v + (m - post.mean) ** 2) / post.variance - 1);
    },
  };

  // Jensen for the log, y ~ LogNormal(mu, sigma^2) (derivations/jensen.py, its numeric check):
  const logNormalY = {
    // $\log \mathbb{E}[y] = \mu + \sigma^2 / 2$
    logMean: (mu, sigma) => mu + sigma * sigma / 2,
    // $\mathbb{E}[\log y] = \mu$
    meanLog: (mu) => mu,
    // density of y: $\frac{1}{y \sigma \sqrt{2\pi}} \exp(-(\log y - \mu)^2 / 2\sigma^2)$
    pdf: (y, mu, sigma) => Math.exp(logNormal(Math.log(y), mu, sigma * sigma)) / y,
  };

  // ELBO surgery for 1-D Gaussian encoders and the prior N(0, 1)
  // (derivations/models/surgery_oracles.py, gaussian_surgery_terms: the same grid, the same Riemann sums).
  function surgeryTerms(mu, sigma, halfWidth, pointsPerStd) {
    const n = mu.length;
    // $\frac1N \sum_n \mathrm{KL}(\mathcal{N}(\mu_n, \sigma^2) \| \mathcal{N}(0, 1)) = \frac1N \sum_n \tfrac12 (\mu_n^2 + \sigma^2 - 1 - \log \sigma^2)$
    let avgKl = 0;
    for (const m of mu) avgKl += 0.5 * (m * m + sigma * sigma - 1 - Math.log(sigma * sigma));
    avgKl /= n;
    // the grid covers every encoder and the prior to halfWidth standard deviations, spacing min(sigma, 1) / pointsPerStd
    const lo = Math.min(Math.min(...mu) - halfWidth * sigma, -halfWidth);
    const hi = Math.max(Math.max(...mu) + halfWidth * sigma, halfWidth);
    const g = Math.ceil((hi - lo) / (Math.min(sigma, 1) / pointsPerStd)) + 1;
    const cell = (hi - lo) / (g - 1);
    const v = sigma * sigma;
    const logQagg = new Float64Array(g);
    let marginalKl = 0;
    for (let i = 0; i < g; i++) {
      const z = lo + i * cell;
      // $\log q_{\mathrm{agg}}(z) = \log \frac1N \sum_n q(z \mid x_n)$ (log-sum-exp)
      let top = -Infinity;
      for (const m of mu) top = Math.max(top, logNormal(z, m, v));
      let sum = 0;
      for (const m of mu) sum += Math.exp(logNormal(z, m, v) - top);
      logQagg[i] = top + Math.log(sum) - Math.log(n);
      // $\mathrm{KL}(q_{\mathrm{agg}} \| p) \approx \sum_g q_{\mathrm{agg}} (\log q_{\mathrm{agg}} - \log p)\, \Delta$
      marginalKl += Math.exp(logQagg[i]) * (logQagg[i] - logNormal(z, 0, 1));
    }
    marginalKl *= cell;
    // $\mathbb{I}_q[n, z] \approx \frac1N \sum_n \sum_g q_n (\log q_n - \log q_{\mathrm{agg}})\, \Delta$
    let mi = 0;
    for (const m of mu) {
      for (let i = 0; i < g; i++) {
        const lq = logNormal(lo + i * cell, m, v);
        mi += Math.exp(lq) * (lq - logQagg[i]);
      }
    }
    mi *= cell / n;
    return { avgKl, marginalKl, mi, logN: Math.log(n), gridPoints: g };
  }

  // The surgery figure's encoder means: N points evenly spaced on [-spread, spread] (0 for N = 1),
  // as elbo_figures_live.surgery_means.
  function surgeryMeans(n, spread) {
    if (n === 1) return [0];
    return Array.from({ length: n }, (_, i) => -spread + (2 * spread * i) / (n - 1));
  }

  // --------------------------------------------------------------------------------------------- DOM
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, val] of Object.entries(attrs || {})) e.setAttribute(k, val);
    if (parent) parent.appendChild(e);
    return e;
  }

  function html(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const [k, val] of Object.entries(attrs || {})) e.setAttribute(k, val);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  // A number as the page shows it: 3 decimals and a true minus sign.
  function fmt(value, digits = 3) {
    const s = Math.abs(value).toFixed(digits);
    return (value < 0 && Number(s) !== 0 ? "\u2212" : "") + s;
  }

  function niceTicks(a, b, count) {
    const raw = (b - a) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) || 10 * mag;
    const out = [];
    for (let t = Math.ceil(a / step - 1e-9) * step; t <= b + 1e-9; t += step) out.push(Math.abs(t) < 1e-12 ? 0 : t);
    return out;
  }

  // A plot: axes with ticks, a clipped layer for the data, helpers to draw into it.
  class Plot {
    constructor(parent, o) {
      this.W = 420; this.H = 260;
      this.m = { l: 46, r: 12, t: 22, b: 40 };
      this.panel = html("div", { class: "elbo-live-panel" }, parent);
      this.root = svg("svg", { viewBox: `0 0 ${this.W} ${this.H}`, class: "elbo-live-plot", role: "img", "aria-label": o.label }, this.panel);
      svg("title", {}, this.root).textContent = o.label;
      this.axes = svg("g", { class: "elbo-live-axes" }, this.root);
      const id = `elbo-live-clip-${++uid}`;
      const clip = svg("clipPath", { id }, svg("defs", {}, this.root));
      svg("rect", { x: this.m.l, y: this.m.t, width: this.W - this.m.l - this.m.r, height: this.H - this.m.t - this.m.b }, clip);
      this.layer = svg("g", { "clip-path": `url(#${id})` }, this.root);
      this.labels = svg("g", { class: "elbo-live-labels" }, this.root);
      this.o = o;
      this.setLimits(o.x, o.y);
    }

    setLimits(x, y) {
      this.x0 = x[0]; this.x1 = x[1]; this.y0 = y[0]; this.y1 = y[1];
      const { W, H, m } = this;
      this.axes.replaceChildren();
      const a = this.axes;
      for (const t of niceTicks(this.x0, this.x1, 5)) {
        svg("line", { x1: this.sx(t), x2: this.sx(t), y1: H - m.b, y2: H - m.b + 4, class: "tick" }, a);
        svg("text", { x: this.sx(t), y: H - m.b + 15, "text-anchor": "middle" }, a).textContent = fmt(t, t % 1 ? 1 : 0);
      }
      for (const t of niceTicks(this.y0, this.y1, 4)) {
        svg("line", { x1: m.l - 4, x2: W - m.r, y1: this.sy(t), y2: this.sy(t), class: "grid" }, a);
        svg("text", { x: m.l - 6, y: this.sy(t) + 4, "text-anchor": "end" }, a).textContent = fmt(t, Math.abs(t % 1) > 1e-9 ? 1 : 0);
      }
      svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }, a);
      svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "axis" }, a);
      svg("text", { x: (m.l + W - m.r) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, a).textContent = this.o.xlabel;
      svg("text", { x: m.l - 40, y: m.t - 8, class: "axis-label" }, a).textContent = this.o.ylabel;
    }

    sx(v) { return this.m.l + ((v - this.x0) / (this.x1 - this.x0)) * (this.W - this.m.l - this.m.r); }
    sy(v) { return this.H - this.m.b - ((v - this.y0) / (this.y1 - this.y0)) * (this.H - this.m.t - this.m.b); }

    clear() { this.layer.replaceChildren(); this.labels.replaceChildren(); }

    curve(f, attrs, samples = 240) {
      const pts = [];
      for (let i = 0; i <= samples; i++) {
        const x = this.x0 + ((this.x1 - this.x0) * i) / samples;
        const y = f(x);
        if (Number.isFinite(y)) pts.push(`${this.sx(x).toFixed(2)},${this.sy(Math.max(Math.min(y, this.y1 + 10 * (this.y1 - this.y0)), this.y0 - 10 * (this.y1 - this.y0))).toFixed(2)}`);
      }
      return svg("polyline", Object.assign({ points: pts.join(" "), fill: "none" }, attrs), this.layer);
    }

    area(f, attrs, samples = 240) {
      const pts = [`${this.sx(this.x0)},${this.sy(this.y0)}`];
      for (let i = 0; i <= samples; i++) {
        const x = this.x0 + ((this.x1 - this.x0) * i) / samples;
        const y = f(x);
        pts.push(`${this.sx(x).toFixed(2)},${this.sy(Number.isFinite(y) ? Math.min(y, 2 * this.y1) : this.y0).toFixed(2)}`);
      }
      pts.push(`${this.sx(this.x1)},${this.sy(this.y0)}`);
      return svg("polygon", Object.assign({ points: pts.join(" ") }, attrs), this.layer);
    }

    line(x1, y1, x2, y2, attrs) {
      return svg("line", Object.assign({ x1: this.sx(x1), y1: this.sy(y1), x2: this.sx(x2), y2: this.sy(y2) }, attrs), this.layer);
    }

    dot(x, y, attrs) { return svg("circle", Object.assign({ cx: this.sx(x), cy: this.sy(y), r: 4.5 }, attrs), this.layer); }

    text(x, y, s, attrs) {
      const t = svg("text", Object.assign({ x: this.sx(x), y: this.sy(y) }, attrs), this.labels);
      t.textContent = s;
      return t;
    }
  }

  // A labelled range input whose current value is shown beside its label.
  function slider(parent, o) {
    const id = `elbo-live-input-${++uid}`;
    const row = html("div", { class: "elbo-live-control" }, parent);
    const label = html("label", { for: id }, row);
    label.innerHTML = o.label;
    const input = html("input", { type: "range", id, min: o.min, max: o.max, step: o.step, value: o.value, "data-control": o.name }, row);
    const out = html("output", { for: id, class: "elbo-live-value" }, row);
    const show = () => { out.textContent = o.show ? o.show(Number(input.value)) : input.value; };
    input.addEventListener("input", show);
    show();
    return input;
  }

  // The readout: one row per quantity, its number in an <output data-term="...">.
  function readout(parent, rows) {
    const dl = html("dl", { class: "elbo-live-readout", "aria-live": "polite" }, parent);
    const outs = {};
    for (const r of rows) {
      const dt = html("dt", { class: r.cls ? `elbo-term-${r.cls}` : "" }, dl);
      dt.innerHTML = r.label;
      outs[r.term] = html("output", { "data-term": r.term }, html("dd", {}, dl));
    }
    return outs;
  }

  function layout(root) {
    const controls = html("div", { class: "elbo-live-controls" }, root);
    const plots = html("div", { class: "elbo-live-plots" }, root);
    const numbers = html("div", { class: "elbo-live-numbers" }, root);
    return { controls, plots, numbers };
  }

  // A legend under a plot: items [term class, text, "solid" | "dashed" | "fill"].
  function legend(plot, items) {
    const p = html("p", { class: "elbo-live-legend" }, plot.panel);
    for (const [cls, label, style] of items) {
      const key = html("span", { class: "elbo-live-key" }, p);
      const icon = svg("svg", { width: 22, height: 12, viewBox: "0 0 22 12", "aria-hidden": "true" }, key);
      if (style === "fill") svg("rect", { x: 2, y: 1, width: 18, height: 10, class: `elbo-live-fill-${cls} solid` }, icon);
      else svg("line", { x1: 1, x2: 21, y1: 6, y2: 6, class: `elbo-live-stroke-${cls}${style === "dashed" ? " dashed" : ""}` }, icon);
      key.appendChild(document.createTextNode(label));
    }
  }

  // ---------------------------------------------------------------------------------------- figures
  const FIGURES = {
    elbo_gap(root, p) {
      const { controls, plots, numbers } = layout(root);
      const post = linearGaussian.posterior(p);
      const logPx = linearGaussian.logEvidence(p);
      const mIn = slider(controls, { name: "m", label: "mean <var>m</var> of <var>q</var>", min: p.m_min, max: p.m_max, step: 0.01, value: p.m, show: (v) => fmt(v, 2) });
      const vIn = slider(controls, { name: "v", label: "variance <var>v</var> of <var>q</var>", min: p.v_min, max: p.v_max, step: 0.01, value: p.v, show: (v) => fmt(v, 2) });
      const dens = new Plot(plots, { label: "Densities of q and of the posterior over z", x: [-1.5, 3.5], y: [0, 1.7], xlabel: "z", ylabel: "density" });
      const gap = new Plot(plots, { label: "The ELBO as the mean m moves, at the chosen variance, under log p(x)", x: [p.m_min, p.m_max], y: [-10, 0], xlabel: "mean m of q", ylabel: "nats" });
      legend(dens, [["log_px", "posterior p(z | x)", "dashed"], ["elbo", "q(z) = N(m, v)"]]);
      legend(gap, [["log_px", "log p(x)"], ["elbo", "ELBO at this v, as m moves"], ["gap", "gap = KL at this m"]]);
      const out = readout(numbers, [
        { term: "log_px", cls: "log_px", label: "evidence log&#8239;<var>p</var>(<var>x</var>)" },
        { term: "elbo", cls: "elbo", label: "ELBO" },
        { term: "kl", cls: "gap", label: "gap KL(<var>q</var>&#8201;&#8214;&#8201;<var>p</var>(<var>z</var>&#8201;|&#8201;<var>x</var>))" },
        { term: "sum", label: "ELBO + KL" },
      ]);
      const identity = html("p", { class: "elbo-live-identity" }, numbers);
      function draw() {
        const m = Number(mIn.value), v = Number(vIn.value);
        const elbo = linearGaussian.elbo(p, m, v), kl = linearGaussian.kl(p, m, v);
        dens.clear();
        dens.area((z) => Math.exp(logNormal(z, post.mean, post.variance)), { class: "elbo-live-fill-log_px" });
        dens.curve((z) => Math.exp(logNormal(z, post.mean, post.variance)), { class: "elbo-live-stroke-log_px dashed" });
        dens.curve((z) => Math.exp(logNormal(z, m, v)), { class: "elbo-live-stroke-elbo thick" });
        gap.clear();
        gap.line(p.m_min, logPx, p.m_max, logPx, { class: "elbo-live-stroke-log_px thick" });
        gap.curve((mm) => linearGaussian.elbo(p, mm, v), { class: "elbo-live-stroke-elbo thick" });
        gap.line(m, Math.max(elbo, -20), m, logPx, { class: "elbo-live-stroke-gap thicker" });
        gap.dot(m, elbo, { class: "elbo-live-dot-elbo" });
        gap.line(post.mean, -10, post.mean, logPx, { class: "elbo-live-stroke-muted dashed" });
        gap.text(post.mean + 0.05, -9.5, "m\u22C6", { class: "legend" });
        out.log_px.textContent = fmt(logPx);
        out.elbo.textContent = fmt(elbo);
        out.kl.textContent = fmt(kl);
        out.sum.textContent = fmt(elbo + kl);
        identity.textContent = `log p(x) = ELBO + KL:  ${fmt(logPx)} = ${fmt(elbo)} + ${fmt(kl)}`;
      }
      mIn.addEventListener("input", draw);
      vIn.addEventListener("input", draw);
      draw();
    },

    jensen(root, p) {
      const { controls, plots, numbers } = layout(root);
      const sIn = slider(controls, { name: "sigma", label: "spread <var>&sigma;</var> of log&#8239;<var>y</var>", min: 0, max: p.sigma_max, step: 0.01, value: p.sigma, show: (v) => fmt(v, 2) });
      const curve = new Plot(plots, { label: "The log curve, the density of y, log E[y] and E[log y]", x: [0, 6], y: [-1.5, 2], xlabel: "y", ylabel: "log y" });
      const gapPlot = new Plot(plots, { label: "Jensen's gap as a function of the spread sigma", x: [0, p.sigma_max], y: [0, (p.sigma_max * p.sigma_max) / 2 * 1.1], xlabel: "spread \u03C3", ylabel: "gap (nats)" });
      legend(curve, [["muted", "log y"], ["muted", "density of y", "fill"], ["log_px", "log E[y] (dot)"], ["elbo", "E[log y]", "dashed"], ["gap", "gap"]]);
      legend(gapPlot, [["gap", "gap \u03C3\u00B2/2 against \u03C3"]]);
      const out = readout(numbers, [
        { term: "mean_y", label: "E[<var>y</var>] = e<sup>&mu; + &sigma;&sup2;/2</sup>" },
        { term: "log_mean", cls: "log_px", label: "log&#8239;E[<var>y</var>]" },
        { term: "mean_log", cls: "elbo", label: "E[log&#8239;<var>y</var>] = &mu;" },
        { term: "gap", cls: "gap", label: "gap = &sigma;&sup2;/2" },
      ]);
      function draw() {
        const s = Number(sIn.value), mu = p.mu;
        const logMean = logNormalY.logMean(mu, s), meanLog = logNormalY.meanLog(mu), meanY = Math.exp(logMean);
        curve.clear();
        if (s > 0.02) {
          // the density of y, scaled into the band above the x axis
          let peak = 0;
          for (let i = 1; i <= 400; i++) peak = Math.max(peak, logNormalY.pdf((6 * i) / 400, mu, s));
          curve.area((y) => (y > 0 ? -1.5 + (1.2 * logNormalY.pdf(y, mu, s)) / peak : -1.5), { class: "elbo-live-fill-muted" });
        } else {
          curve.line(Math.exp(mu), -1.5, Math.exp(mu), -0.3, { class: "elbo-live-stroke-muted thick" });
        }
        curve.curve((y) => Math.log(y), { class: "elbo-live-stroke-muted thick" });
        curve.line(0, meanLog, 6, meanLog, { class: "elbo-live-stroke-elbo dashed" });
        curve.line(meanY, -1.5, meanY, meanLog, { class: "elbo-live-stroke-muted dotted" });
        curve.line(meanY, meanLog, meanY, logMean, { class: "elbo-live-stroke-gap thicker" });
        curve.dot(meanY, logMean, { class: "elbo-live-dot-log_px" });
        curve.text(meanY + 0.08, -1.35, "E[y]", { class: "legend" });
        gapPlot.clear();
        gapPlot.curve((t) => (t * t) / 2, { class: "elbo-live-stroke-gap thick" });
        gapPlot.dot(s, (s * s) / 2, { class: "elbo-live-dot-gap" });
        out.mean_y.textContent = fmt(meanY);
        out.log_mean.textContent = fmt(logMean);
        out.mean_log.textContent = fmt(meanLog);
        out.gap.textContent = fmt(logMean - meanLog);
      }
      sIn.addEventListener("input", draw);
      draw();
    },

    elbo_surgery(root, p) {
      const { controls, plots, numbers } = layout(root);
      const nIn = slider(controls, { name: "n", label: "number of observations <var>N</var>", min: 1, max: p.n_max, step: 1, value: p.n });
      const sIn = slider(controls, { name: "sigma", label: "encoder width <var>&sigma;</var>", min: p.sigma_min, max: p.sigma_max, step: 0.01, value: p.sigma, show: (v) => fmt(v, 2) });
      const dens = new Plot(plots, { label: "The encoders q(z|x_n)/N, their sum the aggregated posterior, and the prior", x: [-4, 4], y: [0, 1], xlabel: "z", ylabel: "density" });
      const bars = new Plot(plots, { label: "Average KL split into index-code MI and marginal KL, with a line at log N", x: [0, 5], y: [0, 3], xlabel: "nats", ylabel: "" });
      legend(dens, [["prior", "prior N(0, 1)", "dashed"], ["q_agg", "aggregated posterior q_agg(z)"], ["index_code_mi", "encoders q(z | x\u2099) / N"]]);
      legend(bars, [["index_code_mi", "index-code MI", "fill"], ["marginal_kl", "marginal KL", "fill"], ["avg_kl", "average KL", "fill"], ["log_n", "log N", "dashed"]]);
      const out = readout(numbers, [
        { term: "avg_kl", cls: "avg_kl", label: "average KL to the prior" },
        { term: "marginal_kl", label: "marginal KL(<var>q</var><sub>agg</sub>&#8201;&#8214;&#8201;<var>p</var>)" },
        { term: "index_code_mi", cls: "index_code_mi", label: "index-code MI &#120128;[<var>n</var>; <var>z</var>]" },
        { term: "log_n", label: "log&#8239;<var>N</var> (the MI&rsquo;s upper bound)" },
        { term: "sum", label: "marginal KL + MI" },
      ]);
      const identity = html("p", { class: "elbo-live-identity" }, numbers);
      function draw() {
        const n = Math.round(Number(nIn.value)), s = Number(sIn.value);
        const mu = surgeryMeans(n, p.spread);
        const t = surgeryTerms(mu, s, p.half_width, p.points_per_std);
        const v = s * s;
        const qagg = (z) => mu.reduce((acc, m) => acc + Math.exp(logNormal(z, m, v)), 0) / n;
        let peak = 0.4;
        for (let i = 0; i <= 400; i++) peak = Math.max(peak, qagg(-4 + (8 * i) / 400));
        const top = peak < 1 ? Math.ceil(peak * 1.15 * 10) / 10 : Math.ceil(peak * 1.15);
        if (top !== dens.y1) dens.setLimits([-4, 4], [0, top]);
        dens.clear();
        dens.area(qagg, { class: "elbo-live-fill-q_agg" });
        if (n <= 60) for (const m of mu) dens.curve((z) => Math.exp(logNormal(z, m, v)) / n, { class: "elbo-live-stroke-index_code_mi thin" }, 160);
        dens.curve((z) => Math.exp(logNormal(z, 0, 1)), { class: "elbo-live-stroke-prior dashed thick" });
        dens.curve(qagg, { class: "elbo-live-stroke-q_agg thick" });
        // bars: the average KL as MI (from 0) + marginal KL; a dashed line at log N
        const xmax = Math.max(1, Math.ceil(Math.max(t.avgKl, t.logN) * 1.15));
        if (xmax !== bars.x1) bars.setLimits([0, xmax], [0, 3]);
        bars.clear();
        const bar = (x0, x1, y, cls) => svg("rect", { x: bars.sx(x0), y: bars.sy(y + 0.35), width: Math.max(0, bars.sx(x1) - bars.sx(x0)), height: bars.sy(y - 0.35) - bars.sy(y + 0.35), class: cls }, bars.layer);
        bar(0, t.mi, 2, "elbo-live-fill-index_code_mi solid");
        bar(t.mi, t.mi + t.marginalKl, 2, "elbo-live-fill-marginal_kl solid");
        bar(0, t.avgKl, 1, "elbo-live-fill-avg_kl solid");
        bars.text(0.05 * xmax, 2.55, "MI + marginal KL", { class: "legend" });
        bars.text(0.05 * xmax, 1.55, "average KL", { class: "legend" });
        bars.line(t.logN, 0, t.logN, 3, { class: "elbo-live-stroke-log_n dashed thick", "data-log-n": t.logN.toFixed(6) });
        bars.text(t.logN, 2.75, " log N", { class: "legend" });
        out.avg_kl.textContent = fmt(t.avgKl);
        out.marginal_kl.textContent = fmt(t.marginalKl);
        out.index_code_mi.textContent = fmt(t.mi);
        out.log_n.textContent = fmt(t.logN);
        out.sum.textContent = fmt(t.marginalKl + t.mi);
        identity.textContent = `MI / log N = ${n > 1 ? fmt(t.mi / t.logN, 2) : "\u2014 (N = 1: MI = log N = 0)"};  quadrature on ${t.gridPoints} grid points`;
      }
      nIn.addEventListener("input", draw);
      sIn.addEventListener("input", draw);
      draw();
    },
  };

  function init() {
    for (const root of document.querySelectorAll(".elbo-live[data-figure]")) {
      if (root.dataset.ready) continue;
      const make = FIGURES[root.dataset.figure];
      if (!make) continue;
      make(root, JSON.parse(root.dataset.params));
      root.dataset.ready = "1";
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  window.ElboLive = { linearGaussian, logNormalY, surgeryTerms, surgeryMeans };
})();
