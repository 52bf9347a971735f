/* ELBO Lab live check boxes: the Web Worker that runs the derivation checker in Python (Pyodide).
 *
 * Everything it loads lies in the book's own _static/live/ (written by book/_ext/elbo_live.py at build time):
 * the Pyodide runtime, the wheels of SymPy, mpmath and lark, and engine.zip (derivations/ from the checkout and
 * elbo_live_page.py).  Messages in: {id, given, typed, assume}.  Messages out: {type: "progress", what},
 * {type: "ready", timings}, {type: "result", id, json, ms}, {type: "error", id?, message}.
 */
"use strict";
const LIVE = new URL("live/", self.location.href).href;
let py = null;
let check = null;
const timings = {};

async function start() {
  const t0 = performance.now();
  const manifest = await (await fetch(LIVE + "manifest.json")).json();
  postMessage({type: "progress", what: "the Python runtime"});
  importScripts(LIVE + manifest.indexURL + "pyodide.js");
  py = await loadPyodide({indexURL: LIVE + manifest.indexURL});
  timings.runtime_ms = performance.now() - t0;
  postMessage({type: "progress", what: "SymPy, mpmath and lark"});
  if (manifest.pyc) {  // SymPy and mpmath precompiled (sourceless .pyc): imported from the zip by zipimport
    const pyc = new Uint8Array(await (await fetch(LIVE + manifest.pyc)).arrayBuffer());
    py.FS.writeFile("/home/pyodide/elbo_live_pyc.zip", pyc);
    py.runPython("import sys; sys.path.insert(0, '/home/pyodide/elbo_live_pyc.zip')");
  }
  await py.loadPackage(manifest.wheels.map((w) => LIVE + w), {messageCallback: () => {}});
  timings.wheels_ms = performance.now() - t0 - timings.runtime_ms;
  postMessage({type: "progress", what: "the derivation engine"});
  const t1 = performance.now();
  const zip = await (await fetch(LIVE + manifest.engine)).arrayBuffer();
  py.unpackArchive(zip, "zip", {extractDir: "/home/pyodide/elbo_live"});
  py.runPython("import sys; sys.path.insert(0, '/home/pyodide/elbo_live')");
  py.runPython("import sympy");
  timings.sympy_import_ms = performance.now() - t1;
  const t2 = performance.now();
  py.runPython("import lark");
  timings.lark_import_ms = performance.now() - t2;
  const t3 = performance.now();
  py.runPython("import derivations.check, elbo_live_page");
  timings.engine_import_ms = performance.now() - t3;
  check = py.pyimport("elbo_live_page").check_json;
  timings.total_ms = performance.now() - t0;
  postMessage({type: "ready", timings});
}

const ready = start().catch((err) => {
  postMessage({type: "error", message: "the checker did not load: " + (err && err.message ? err.message : err)});
  throw err;
});

onmessage = async (event) => {
  const {id, given, typed, assume} = event.data;
  try {
    await ready;
  } catch (err) {
    postMessage({type: "error", id, message: "the checker did not load"});
    return;
  }
  const t = performance.now();
  try {
    const json = check(given, typed, assume || "");
    postMessage({type: "result", id, json, ms: performance.now() - t});
  } catch (err) {
    postMessage({type: "error", id, message: String(err && err.message ? err.message : err).split("\n").slice(-2).join(" ")});
  }
};
