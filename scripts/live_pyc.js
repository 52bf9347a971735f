// Precompile SymPy and mpmath for the book's live check boxes (run by scripts/setup.sh; Node, no network).
//
//   node scripts/live_pyc.js PYODIDE_DIR OUT.zip WHEEL...
//
// Starts the npm Pyodide runtime in Node, installs the given pure-Python wheels into it, compiles every module
// (tests excluded) with Pyodide's own Python into a sourceless zip (X.py -> X.pyc, unchecked-hash pycs, data
// files kept) and writes OUT.zip atomically.  The page puts that zip on sys.path (zipimport): importing SymPy
// from bytecode takes a fraction of compiling it from source in WebAssembly (book/_ext/elbo_live.py).
"use strict";
const fs = require("fs");
const path = require("path");

const [pyodideDir, out, ...wheels] = process.argv.slice(2);
if (!pyodideDir || !out || wheels.length === 0) {
  console.error("usage: node scripts/live_pyc.js PYODIDE_DIR OUT.zip WHEEL...");
  process.exit(2);
}

(async () => {
  const {loadPyodide} = require(path.resolve(pyodideDir, "pyodide.js"));
  const py = await loadPyodide({indexURL: path.resolve(pyodideDir) + "/", stdout: () => {}, stderr: console.error});
  await py.loadPackage(wheels.map((w) => path.resolve(w)), {messageCallback: () => {}});
  const tops = wheels.map((w) => path.basename(w).split("-")[0]);
  py.globals.set("TOPS", py.toPy(tops));
  py.runPython(`
import os, py_compile, sysconfig, zipfile
sp = sysconfig.get_paths()["purelib"]
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
with zipfile.ZipFile("/tmp/pyc.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for top in TOPS:
        for d, dirs, files in os.walk(os.path.join(sp, top)):
            dirs[:] = sorted(x for x in dirs if x not in ("tests", "__pycache__"))
            for f in sorted(files):
                p = os.path.join(d, f)
                rel = os.path.relpath(p, sp)
                info = zipfile.ZipInfo(rel[:-3] + ".pyc" if f.endswith(".py") else rel, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                if f.endswith(".py"):
                    py_compile.compile(p, cfile="/tmp/one.pyc", dfile=rel, invalidation_mode=mode, doraise=True)
                    z.writestr(info, open("/tmp/one.pyc", "rb").read())
                elif not f.endswith(".pyc"):
                    z.writestr(info, open(p, "rb").read())
`);
  const tmp = out + ".tmp";
  fs.writeFileSync(tmp, py.FS.readFile("/tmp/pyc.zip"));
  fs.renameSync(tmp, out);
  console.log(`live_pyc: wrote ${out} (${(fs.statSync(out).size / 1e6).toFixed(1)} MB; ${tops.join(", ")})`);
})().catch((err) => {
  console.error("live_pyc: " + (err && err.message ? err.message : err));
  process.exit(1);
});
