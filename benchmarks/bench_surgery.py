"""Benchmark: full-data marginal KL KL(q_agg || p) at N = 60000, S = 60000, D = 20 (Hoffman & Johnson eq. 19).

Ours (:func:`training.surgery_estimators.aggregated_posterior_estimates`: one GEMM per chunk of samples, logsumexp over all N) against a
beta-TCVAE-style baseline (Chen et al. 2018 code: ``log_density_gaussian(z[:, None], mu[None], logvar[None])``
broadcast to a (10, N, D) tensor per chunk of 10 samples, summed over D, logsumexp over N), both run here in one
process on the same encodings. The baseline is timed on a slice of the samples and scaled linearly to S (its cost
is exactly linear in S: the same work per chunk); the printout says so.

Goals (issue 4): >= 5x faster, peak memory < 2 GiB, under 60 s. Peak memory of each is measured in a fresh
subprocess (``ru_maxrss`` minus the interpreter's after import).

    python benchmarks/bench_surgery.py [--n 60000] [--samples 60000] [--dim 20] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import torch


def encodings(n: int, d: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    # like a trained 20-D VAE: a few active dimensions with sharp encodings, the rest near the prior
    mu = torch.randn(n, d, generator=g) * torch.linspace(1.5, 0.05, d)
    logvar = torch.linspace(-4.0, -0.05, d) + 0.3 * torch.randn(n, d, generator=g)
    return mu, logvar


def baseline_log_q_agg(z, mu, logvar, chunk: int = 10):
    """beta-TCVAE style: a (chunk, N, D) broadcast per chunk of samples."""
    out = []
    for i in range(0, len(z), chunk):
        zc = z[i : i + chunk, None, :]
        # log N(z; mu, sigma^2) per dimension, then summed (the pattern of Chen et al.'s log_density_gaussian)
        lp = -0.5 * (math.log(2 * math.pi) + logvar[None] + (zc - mu[None]) ** 2 * torch.exp(-logvar[None]))
        out.append(torch.logsumexp(lp.sum(-1), dim=1) - math.log(len(mu)))
    return torch.cat(out)


def _child(which: str, n: int, s: int, d: int, threads: int) -> None:
    if threads:
        torch.set_num_threads(threads)
    from training.surgery_estimators import aggregated_posterior_estimates, sample_aggregated_posterior

    mu, logvar = encodings(n, d)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, c = time.perf_counter(), time.process_time()
    if which == "ours":
        est = aggregated_posterior_estimates(mu, logvar, num_samples=s)["marginal_kl"]
        value = est.value
    else:
        z, _ = sample_aggregated_posterior(mu, logvar, s, torch.Generator().manual_seed(0))
        lq = baseline_log_q_agg(z, mu, logvar)
        value = (lq + 0.5 * (z.pow(2).sum(-1) + d * math.log(2 * math.pi))).mean().item()
    sec, cpu = time.perf_counter() - t, time.process_time() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss  # KiB on Linux
    print(json.dumps({"seconds": sec, "cpu_seconds": cpu, "peak_mib": peak / 1024, "value": value}))


def run_child(which, n, s, d, threads):
    out = subprocess.run([sys.executable, __file__, "--child", which, "--n", str(n), "--samples", str(s),
                          "--dim", str(d), "--threads", str(threads)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--dim", type=int, default=20)
    ap.add_argument("--baseline-samples", type=int, default=3000, help="samples timed for the baseline")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        _child(a.child, a.n, a.samples, a.dim, a.threads)
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times include other jobs' load)")
    print(f"marginal KL, N={a.n}, S={a.samples}, D={a.dim}, torch threads={a.threads or torch.get_num_threads()}")
    ours = run_child("ours", a.n, a.samples, a.dim, a.threads)
    base = run_child("baseline", a.n, a.baseline_samples, a.dim, a.threads)
    base_full = base["seconds"] * a.samples / a.baseline_samples
    print(f"ours     : {ours['seconds']:8.2f} s (CPU {ours['cpu_seconds']:.1f} s)   peak {ours['peak_mib']:7.0f} MiB   KL = {ours['value']:.4f} nats")
    print(f"baseline : {base_full:8.2f} s   (timed {base['seconds']:.2f} s on S={a.baseline_samples}, scaled x"
          f"{a.samples / a.baseline_samples:.0f})   peak {base['peak_mib']:7.0f} MiB")
    speedup = base_full / ours["seconds"]
    print(f"speed-up : {speedup:.1f}x   (goal >= 5x: {'met' if speedup >= 5 else 'NOT met'}); "
          f"peak < 2 GiB: {'met' if ours['peak_mib'] < 2048 else 'NOT met'}; "
          f"< 60 s: {'met' if ours['seconds'] < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
