/* ELBO Lab live check boxes ({elbo-live}, book/_ext/elbo_live.py): the page side.
 *
 * One Web Worker per page (elbo_live_worker.js) runs derivations.check in Pyodide.  It starts when a box comes
 * near the viewport or on the first click or focus in a box (a page without a box starts nothing).  Opened from file://, the boxes say how to serve
 * the book instead (browsers do not run WebAssembly modules read from disk).  window.elboLive exposes the state
 * for the book's tests and benchmark: {state, timings, ready (a Promise)}.
 */
(() => {
  "use strict";
  const boxes = [...document.querySelectorAll(".elbo-live-box")];
  const script = document.currentScript || document.querySelector('script[src*="elbo_live.js"]');
  const api = {state: "idle", timings: null, checks: 0};
  window.elboLive = api;
  if (!boxes.length || !script) return;
  const staticBase = new URL(".", script.src);

  const status = (box, text, cls) => {
    const el = box.querySelector(".elbo-live-status");
    el.textContent = text;
    el.className = "elbo-live-status" + (cls ? " " + cls : "");
  };

  if (location.protocol === "file:") {
    const path = decodeURIComponent(location.pathname);
    const cut = path.lastIndexOf("/_build/html/");
    const rel = cut >= 0 ? path.slice(cut + "/_build/html/".length) : path.split("/").pop();
    for (const box of boxes) {
      box.querySelector(".elbo-live-check").disabled = true;
      box.querySelector(".elbo-live-input").disabled = true;
      status(box, "");
      const note = document.createElement("p");
      note.className = "elbo-live-offline";
      note.append("The checker runs Python in this page (Pyodide), which a browser allows only for a page served "
        + "over HTTP, not opened from a file. In the repository run ");
      const code = document.createElement("code");
      code.textContent = "make serve";
      note.append(code, " and open ");
      const a = document.createElement("a");
      a.href = a.textContent = "http://127.0.0.1:8000/" + rel;
      note.append(a, ". Or put the chain in a file and run ");
      const cli = document.createElement("code");
      cli.textContent = "python -m derivations check FILE";
      note.append(cli, ".");
      box.querySelector(".elbo-live-verdict").replaceChildren(note);
    }
    api.state = "file";
    return;
  }

  let worker = null;
  let nextId = 1;
  const pending = new Map();
  let resolveReady, rejectReady;
  api.ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
  api.ready.catch(() => {});

  const start = () => {
    if (worker) return;
    api.state = "loading";
    api.startedAt = performance.now();
    boxes.forEach((b) => status(b, "loading the checker…", "elbo-live-busy"));
    worker = new Worker(new URL("elbo_live_worker.js", staticBase));
    worker.onmessage = (event) => {
      const msg = event.data;
      if (msg.type === "progress") {
        boxes.forEach((b) => { if (!b.dataset.busy) status(b, `loading the checker… (${msg.what})`, "elbo-live-busy"); });
      } else if (msg.type === "ready") {
        api.state = "ready";
        api.timings = msg.timings;
        api.readyAt = performance.now();
        boxes.forEach((b) => { if (!b.dataset.busy) status(b, "the checker is ready"); });
        resolveReady(msg.timings);
      } else if (msg.type === "result" || msg.type === "error") {
        const job = pending.get(msg.id);
        if (msg.id === undefined) {
          api.state = "failed";
          boxes.forEach((b) => status(b, msg.message, "elbo-live-bad"));
          rejectReady(new Error(msg.message));
        }
        if (job) { pending.delete(msg.id); job(msg); }
      }
    };
    worker.onerror = (event) => {
      api.state = "failed";
      boxes.forEach((b) => status(b, "the checker did not load: " + (event.message || "a worker error"), "elbo-live-bad"));
      rejectReady(new Error(event.message));
    };
  };

  const fmt = (x) => (typeof x === "number" ? Number(x.toPrecision(6)).toString() : String(x));

  const math = (tex) => {
    const span = document.createElement("span");
    span.className = "math notranslate nohighlight";
    span.textContent = "\\(" + tex + "\\)";
    return span;
  };

  const render = (box, msg) => {
    const out = box.querySelector(".elbo-live-verdict");
    out.replaceChildren();
    let overall;
    if (msg.type === "error") {
      overall = "error";
      const p = document.createElement("p");
      p.className = "elbo-live-line elbo-live-error";
      p.textContent = "The checker failed: " + msg.message;
      out.append(p);
    } else {
      const res = JSON.parse(msg.json);
      if (res.error) {
        overall = "error";
        const p = document.createElement("p");
        p.className = "elbo-live-line elbo-live-error";
        p.textContent = "Cannot read it: " + res.error;
        out.append(p);
      } else {
        const verdicts = res.steps.map((s) => s.verdict);
        overall = verdicts.includes("does not follow") ? "does not follow"
          : verdicts.includes("cannot decide") ? "cannot decide" : "follows";
        res.steps.forEach((s, k) => {
          const p = document.createElement("p");
          const cls = {"follows": "elbo-live-follows", "does not follow": "elbo-live-fails",
                       "cannot decide": "elbo-live-undecided"}[s.verdict];
          p.className = "elbo-live-line " + cls;
          const mark = {"follows": "✔", "does not follow": "✘", "cannot decide": "?"}[s.verdict];
          const head = document.createElement("strong");
          head.textContent = `${mark} ${res.steps.length > 1 ? "Line " + (k + 1) + ": " : ""}${s.verdict}`;
          const rel = {"=": "=", ">=": "\\ge", "<=": "\\le"}[s.relation] || "=";
          p.append(head, ": " + s.reason + ".");
          const yours = document.createElement("p");
          yours.className = "elbo-live-detail elbo-live-yours";
          yours.append("Your line: ", math(rel + " " + s.rhs));
          out.append(p, yours);
          if (s.left !== null && s.left !== undefined) {
            const q = document.createElement("p");
            q.className = "elbo-live-detail";
            const where = (s.point ? "At " + s.point : "On a random instance") + (s.instance ? " (" + s.instance + ")" : "");
            q.textContent = `${where}: the line before is ${fmt(s.left)}, yours is ${fmt(s.right)}.`;
            out.append(q);
          }
          if (s.mistake) {
            const q = document.createElement("p");
            q.className = "elbo-live-detail elbo-live-mistake";
            const b = document.createElement("strong");
            b.textContent = "The mistake: ";
            q.append(b, s.mistake);
            out.append(q);
          }
        });
      }
    }
    out.dataset.verdict = overall;
    if (window.MathJax && window.MathJax.typesetPromise) window.MathJax.typesetPromise([out]).catch(() => {});
    return overall;
  };

  for (const box of boxes) {
    const input = box.querySelector(".elbo-live-input");
    const button = box.querySelector(".elbo-live-check");
    const run = () => {
      start();
      const typed = input.value;
      const id = nextId++;
      box.dataset.busy = "1";
      box.querySelector(".elbo-live-verdict").dataset.verdict = "";
      button.disabled = true;
      const t0 = performance.now();
      status(box, api.state === "ready" ? "checking…" : "loading the checker…", "elbo-live-busy");
      pending.set(id, (msg) => {
        delete box.dataset.busy;
        button.disabled = false;
        const overall = render(box, msg);
        api.checks += 1;
        api.last = {ms: performance.now() - t0, worker_ms: msg.ms, verdict: overall, at: performance.now()};
        status(box, `checked in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      });
      worker.postMessage({id, given: box.dataset.given, typed, assume: box.dataset.assume || ""});
    };
    button.addEventListener("click", run);
    input.addEventListener("focus", start, {once: true});
    input.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } });
  }
  // Start when a box comes within about two screens of the viewport (or on the first click or focus in one): the
  // worker loads Pyodide on its own thread while the reader reads on, so the checker is ready about when they
  // reach the box; a reader who never scrolls to the exercises downloads nothing.
  if ("IntersectionObserver" in window) {
    const seen = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) { seen.disconnect(); start(); }
    }, {rootMargin: "1500px 0px"});
    boxes.forEach((b) => seen.observe(b));
  } else {
    start();
  }
})();
