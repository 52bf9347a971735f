"""Publishing of ``python -m training reproduce``: the staged results copied to the results folder with the job's
provenance (the plan, the recipe, the sessions, the machine's load and speed, the previous results' key numbers).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .plan import job_command, matmul_gflops, result_name


def read_history(results_dir: Path, name: str) -> list[dict]:
    """The previous results' key numbers (kept in the new file's provenance, for the book's history paragraph)."""
    old = results_dir / f"{name}.json"
    if not old.exists():
        return []
    try:
        r = json.loads(old.read_text())
    except Exception:
        return []
    prev = list(r.get("provenance", {}).get("previous_results", []))
    entry = {
        "created": r["provenance"].get("created"), "git_commit": r["provenance"].get("git_commit"),
        "epochs": r["provenance"].get("epochs"), "wall_time_s": r["provenance"].get("wall_time_s"),
        "recipe": r["provenance"].get("reproduce", {}).get("recipe")
        or {k: r.get("config", {}).get(k) for k in ("lr", "batch_size", "lr_schedule")},
        "note": r["provenance"].get("note", ""),
        "train": {t: r["train"]["terms"][t] for t in ("elbo", "avg_kl", "marginal_kl", "index_code_mi")},
        "test_elbo": r["test"]["elbo"], "iwae": r["test"]["iwae"],
    }
    if not any(h.get("created") == entry["created"] for h in prev):
        prev.append(entry)
    return prev


def publish(plan: dict, out: Path, staging: Path, results_dir: Path, sessions: list[dict]) -> None:
    """Copy the staged results to ``results_dir`` with the job's provenance (plan, sessions, load, history)."""
    loads = [l for s in sessions for l in s.get("loadavg", [])]
    job = {
        "command": job_command(plan),
        "plan": plan,
        "recipe": plan["recipe"],
        "job_wall_time_s": sum(s.get("seconds", 0.0) for s in sessions),
        "matmul_gflops_at_start": plan.get("matmul_gflops"),
        "matmul_gflops_at_end": matmul_gflops(),
        "sessions": [{"started": s["started"], "seconds": s.get("seconds")} for s in sessions],
        "loadavg_1min": {"mean": sum(l[1] for l in loads) / len(loads), "max": max(l[1] for l in loads),
                         "samples": len(loads), "cpu_count": os.cpu_count(),
                         "what": "os.getloadavg() every 30 s during the job; the job itself adds about "
                                 f"{plan['parallel_runs'] * plan['threads_per_run']}; the rest is other work on the "
                                 "machine"} if loads else None,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    from . import result_files
    from .io import FolderLock, atomic_write_set

    with FolderLock(results_dir, "--results-dir"):  # no evaluate writes here meanwhile
        for d in plan["dims"]:
            name = result_name(plan, d)
            src = staging / name / f"{name}.json"
            r = result_files.load_path(src)  # validated against the schema before anything is published
            history = read_history(results_dir, name)
            if history and history[-1].get("created") == r["provenance"].get("created"):
                history = history[:-1]  # publishing the same evaluation twice (a resumed publish)
            r["provenance"]["reproduce"] = job
            if history:
                r["provenance"]["previous_results"] = history
            result_files.check(r, src)
            # all of a model's files or none; the JSON, which names the others, goes last
            files = {f: (staging / name / f).read_bytes() for f in r.get("files", {}).values()}
            files[f"{name}.json"] = json.dumps(r, indent=2) + "\n"
            atomic_write_set(results_dir, files)
    print(f"results: {results_dir} ({', '.join(result_name(plan, d) for d in plan['dims'])}); job wall time "
          f"{job['job_wall_time_s'] / 60:.1f} min")


__all__ = ["publish", "read_history"]
