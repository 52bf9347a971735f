r"""Beyond Table 1 (issue 15): what the surgery asks for, measured on trained models.

    python -m training.prior_study vae_d2 vae_d10 vae_d20 --runs runs/reproduce     # adds "beyond" to each results file

For each trained model (a run folder with ``checkpoint.pt`` and its ``training/results/NAME.json``) it measures,
on one fixed seeded binarization of MNIST (the same seed as :mod:`training.evaluate`):

- **The optimal-prior row** (Hoffman & Johnson 2016, sec. 3 and poster): with $p = q_{\mathrm{agg}}$ the marginal KL
  vanishes, so $\mathcal{L}(q_{\mathrm{agg}}) = \mathcal{L}(p) + \mathrm{KL}(q_{\mathrm{agg}} \| p)$ for the same
  encoder and decoder (:func:`training.surgery_estimators.optimal_prior_elbo`).
- **Learned priors fitted to the trained model** (encoder and decoder frozen): a mixture of K diagonal Gaussians
  and a VampPrior with K pseudo-inputs, each fitted by maximising $\mathbb{E}_{q_{\mathrm{agg}}} \log p(z)$, i.e.
  minimising the marginal KL, the only ELBO term that depends on the prior. Their ELBO is
  $\mathcal{L}(\mathcal{N}) + \mathrm{KL}(q_{\mathrm{agg}} \| \mathcal{N}) - \mathrm{KL}(q_{\mathrm{agg}} \| p)$, each
  marginal KL by the full-data estimator. This is not the same as training with the prior from the start (the
  encoder would then move too); on this shared 2-core machine there was no CPU for those runs (see the report).
- **The IWAE bound against K** (Burda et al. 2016, eq. 8): $\mathcal{L}_K$ for K = 1, 5, 50, 500, 5000 on the
  first ``--iwae-images`` test images, all K from the same 5000 draws per image (for K < 5000 the average over
  the 5000 / K disjoint groups), with the standard error over images.
- **Active units** (Burda et al. 2016, sec. 5.2): unit u is active if $\mathrm{Cov}_x(\mathbb{E}_{q(z|x)}[z_u]) >
  0.01$, over the 10000 test images.

For D = 2 it also writes ``NAME.priors.npz`` for the pictures of the aggregated posterior under each prior.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .data import binarize, load_mnist
from .io import atomic_write, npz_bytes
from .checkpoint import load_model
from .estimators import active_units, encode_all, log_importance_weights, mean_se
from .model import VAE
from .priors import MixturePrior, StandardPrior, VampPrior
from .surgery_estimators import aggregated_posterior_estimates, optimal_prior_elbo, sample_aggregated_posterior

IWAE_KS = (1, 5, 50, 500, 5000)


@torch.no_grad()
def iwae_vs_k(model: VAE, x: torch.Tensor, ks=IWAE_KS, chunk: int = 1000, seed: int = 0,
              prior=None) -> dict:
    r"""$\mathcal{L}_K$ for each K in ``ks`` on images ``x`` (n, 784): ``{str(K): {"value", "se", "n_samples"}}``.

    One set of $K_{\max}$ draws $z \sim q(z|x)$ per image; $\mathcal{L}_K$ is averaged over the $K_{\max}/K$ disjoint
    groups of K (unbiased for $\mathbb{E}\,\mathcal{L}_K$, less noisy than one group). The standard error is over
    images; the values for different K are paired (same images, same draws), so their differences are far more
    precise than each one's standard error. ``prior``: a distribution with ``log_prob``, default the model's.
    Raises ``ValueError`` if a K does not divide the largest.
    """
    kmax = max(ks)
    if any(kmax % k for k in ks):
        raise ValueError(f"every K must divide the largest ({kmax}): got {ks}")
    gen = torch.Generator(device=x.device).manual_seed(seed)
    if prior is None and model.prior.learned:
        prior = model.prior_distribution()
    per = {k: [] for k in ks}
    for i in range(len(x)):
        lw = log_importance_weights(model, x[i : i + 1], kmax, gen, chunk, prior)
        for k in ks:
            per[k].append((torch.logsumexp(lw.view(kmax // k, k), dim=1) - math.log(k)).mean())
    # one image has no standard error over images: 0.0 there, so the JSON stays finite
    return {str(k): mean_se(torch.stack(v), single_se=0.0).to_dict() for k, v in per.items()}


def fit_prior(model: VAE, mu: torch.Tensor, logvar: torch.Tensor, spec: str, k: int, steps: int, batch: int = 1000,
              lr: float = 1e-2, seed: int = 0, init_images: torch.Tensor | None = None):
    r"""Fit a prior to the frozen model's aggregated posterior: maximise $\mathbb{E}_{q_{\mathrm{agg}}} \log p(z)$.

    ``spec`` "mog" (K diagonal Gaussians) or "vamp" (K pseudo-inputs through the frozen encoder). Adam,
    ``steps`` steps of ``batch`` draws from $q_{\mathrm{agg}}$. MoG means start at K random encodings; VampPrior
    pseudo-inputs at K random training images (grey levels) when ``init_images`` is given. Returns the fitted
    :class:`training.priors.Prior` and the per-step objective (nats).
    """
    g = torch.Generator().manual_seed(seed)
    d = mu.shape[1]
    if spec == "mog":
        prior = MixturePrior(d, k)
        with torch.no_grad():
            idx = torch.randint(0, len(mu), (k,), generator=g)
            prior.means.copy_(mu[idx])
            prior.logvars.copy_(logvar[idx].clamp(min=-6.0))
        encode = None
    else:
        prior = VampPrior(d, k)
        if init_images is not None:
            with torch.no_grad():
                prior.pseudo_raw.copy_(init_images[torch.randint(0, len(init_images), (k,), generator=g)])
        frozen = copy.deepcopy(model)
        for p in frozen.parameters():
            p.requires_grad_(False)
        encode = frozen.encode
    opt = torch.optim.Adam(prior.parameters(), lr=lr if spec == "mog" else lr * 0.5)
    trace = []
    for s in range(steps):
        z, _ = sample_aggregated_posterior(mu, logvar, batch, g)
        loss = -prior.distribution(encode).log_prob(z).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        trace.append(-loss.item())
    return prior, trace, encode


@torch.no_grad()
def learned_prior_components(model: VAE) -> dict:
    r"""The trained model's learned prior as mixture components: ``learned_weights`` (K,), ``learned_means`` and
    ``learned_logvars`` (K, D) as NumPy arrays.

    For ``mog:K`` these are its softmax weights, means and log-variances; for ``vamp:K`` the encoder's
    $q(z \mid u_k)$ at the K pseudo-inputs, weights 1/K (Tomczak & Welling 2018, eq. 9). Raises ``ValueError`` for
    a model with the standard prior (it has no components to store).
    """
    if not model.prior.learned:
        raise ValueError(f"the model's prior ({model.prior.describe()}) is not learned: it has no components to store")
    w, m, lv = model.prior.components(model.encode)
    return {"learned_weights": w.numpy(), "learned_means": m.numpy(), "learned_logvars": lv.numpy()}


@torch.no_grad()
def _samples(dist, n: int, seed: int) -> torch.Tensor:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return dist.sample((n,))


def measure(name: str, run_dir: Path, results_dir: Path, iwae_images: int, fit_k: int, fit_steps: int, seed: int = 0,
            data_root: str | None = None, ks=IWAE_KS, threads: int = 1, verify: bool = True,
            surgery_samples: int | None = None, files: dict | None = None) -> dict:
    """The measurements of :func:`study` that need only the checkpoint (not yet the results file).

    Returns a dict (``epochs``, ``active_units``, ``iwae_vs_k``, ``fitted`` marginal KLs, ``priors_npz``); for D = 2
    writes ``results_dir/NAME.priors.npz`` -- or, when ``files`` is a dict, puts its bytes there under that name
    (for :func:`merge` to write together with the results file, all-or-nothing).
    """
    if threads:  # 0: all cores (torch's default)
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model, cfg, epochs = load_model(run_dir)
    (tr_x, tr_y), (te_x, _) = load_mnist(True, data_root, verify=verify), load_mnist(False, data_root, verify=verify)
    gen = torch.Generator().manual_seed(seed)
    xtr, xte = binarize(tr_x, gen), binarize(te_x, gen)  # the same fixed draws as training.evaluate
    with torch.no_grad():
        mu, logvar = encode_all(model, xtr)
        mu_te, _ = encode_all(model, xte)
    out = {"name": name, "epochs": epochs, "seed": seed, "active_units": active_units(mu_te)}
    t1 = time.perf_counter()
    out["iwae_vs_k"] = {"k": list(ks), "n_images": min(iwae_images, len(xte)),
                        "bounds": iwae_vs_k(model, xte[:iwae_images], ks=ks, seed=seed),
                        "seconds": time.perf_counter() - t1}
    fitted, npz = {}, {}
    if fit_steps > 0 and not model.prior.learned:
        for spec in ("mog", "vamp"):
            t2 = time.perf_counter()
            prior, trace, encode = fit_prior(model, mu, logvar, spec, fit_k, fit_steps, seed=seed, init_images=tr_x)
            with torch.no_grad():
                dist = prior.distribution(encode)
                marginal_kl_est = aggregated_posterior_estimates(mu, logvar, num_samples=surgery_samples, seed=seed,
                                                     prior=dist)["marginal_kl"]
            fitted[f"{spec}:{fit_k}"] = {"marginal_kl": marginal_kl_est.to_dict(), "fit_steps": fit_steps, "fit_batch": 1000,
                                         "objective_last": float(np.mean(trace[-20:])),
                                         "seconds": time.perf_counter() - t2}
            if cfg.latent_dim == 2:
                with torch.no_grad():
                    w, m, lv = prior.components(encode)
                    npz.update({f"{spec}_means": m.numpy(), f"{spec}_logvars": lv.numpy()})
                    if spec == "mog":  # a VampPrior's weights are 1/K by definition
                        npz["mog_weights"] = w.numpy()
                    else:
                        npz["vamp_pseudo_inputs"] = prior.pseudo_inputs().numpy()
                    npz[f"{spec}_samples"] = _samples(dist, 5000, seed).numpy()
    out["fitted"] = fitted
    if cfg.latent_dim == 2:
        m = min(5000, len(mu))
        with torch.no_grad():
            npz.update(mu=mu[:m].numpy(), logvar=logvar[:m].numpy(), labels=tr_y[:m].numpy().astype(np.int64),
                       q_agg_samples=sample_aggregated_posterior(mu, logvar, 5000,
                                                                 torch.Generator().manual_seed(seed))[0].numpy(),
                       standard_samples=_samples(StandardPrior(2).distribution(), 5000, seed).numpy())
            if model.prior.learned:  # the prior the model was trained with, as a mixture, for the pictures
                npz.update(learned_prior_components(model), learned_samples=_samples(model.prior_distribution(), 5000,
                                                                                     seed).numpy())
        fname = f"{name}.priors.npz"
        payload = npz_bytes(**{k: np.asarray(v, dtype=np.int64 if k == "labels" else np.float32) for k, v in npz.items()})
        if files is not None:
            files[fname] = payload
        else:
            atomic_write(Path(results_dir) / fname, payload)
        out["priors_npz"] = fname
    out["seconds"] = time.perf_counter() - t0
    return out


def merge(measured: dict, results_dir: Path, files: dict | None = None) -> dict:
    """Add ``beyond`` (from :func:`measure` and the results file's terms) to ``results_dir/NAME.json``; ``files``
    (name -> bytes, e.g. ``NAME.priors.npz``) are written with it, all-or-nothing, the JSON last, while the results
    folder is locked."""
    from . import result_files
    from .io import FolderLock, TrainingError, atomic_write_set

    path = Path(results_dir) / f"{measured['name']}.json"
    result = result_files.load_path(path)  # one-line ResultsError if missing, damaged or invalid
    if measured["epochs"] != result["provenance"]["epochs"]:
        raise TrainingError(f"measured at {measured['epochs']} epochs but {path} was evaluated at "
                            f"{result['provenance']['epochs']}: measure the same checkpoint (or evaluate it again)")
    terms = result["train"]["terms"]
    beyond = {"seed": measured["seed"], "git_commit": result["provenance"].get("git_commit"),
              "optimal_prior": {"elbo": optimal_prior_elbo(terms["elbo"], terms["marginal_kl"]).to_dict(),
                                "what": "ELBO with p = q_agg for the same encoder and decoder: ELBO + marginal KL "
                                        "(H&J 2016)"},
              "active_units": measured["active_units"], "iwae_vs_k": measured["iwae_vs_k"]}
    if measured["fitted"]:
        std = terms["marginal_kl"]
        priors = {}
        for k, f in measured["fitted"].items():
            marginal_kl_est = f["marginal_kl"]
            priors[k] = {**f,
                         "elbo": {"value": terms["elbo"]["value"] + std["value"] - marginal_kl_est["value"],
                                  "se": math.hypot(terms["elbo"]["se"], std["se"], marginal_kl_est["se"])},
                         "avg_kl": {"value": terms["index_code_mi"]["value"] + marginal_kl_est["value"],
                                    "se": math.hypot(terms["index_code_mi"]["se"], marginal_kl_est["se"])}}
        beyond["fitted_priors"] = {
            "what": "prior fitted to the trained model's aggregated posterior, encoder and decoder frozen "
                    "(maximise E_q_agg log p(z)); ELBO = ELBO(N(0,I)) + marginal KL(N(0,I)) - marginal KL(fitted)",
            "priors": priors}
    if measured.get("priors_npz"):
        beyond["priors_npz"] = measured["priors_npz"]
    beyond["seconds"] = measured["seconds"]
    result["beyond"] = beyond
    with FolderLock(Path(results_dir), "--results-dir"):
        atomic_write_set(results_dir, {**(files or {}), path.name: json.dumps(result, indent=2) + "\n"})
    return beyond


def study(name: str, run_dir: Path, results_dir: Path, iwae_images: int, fit_k: int, fit_steps: int, seed: int = 0,
          data_root: str | None = None, ks=IWAE_KS, threads: int = 1, verify: bool = True,
          surgery_samples: int | None = None) -> dict:
    """Measure one model and add ``beyond`` to ``results_dir/NAME.json``; return the ``beyond`` dict."""
    return merge(measure(name, run_dir, results_dir, iwae_images, fit_k, fit_steps, seed, data_root, ks, threads,
                         verify, surgery_samples), results_dir)


def build_parser():
    """The command line; every option is checked while parsing (:mod:`training.cli`), before any work."""
    from . import cli
    from .prior_spec import MAX_COMPONENTS

    p = cli.OneLineParser(prog="python -m training.prior_study", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="+", type=cli.name("NAME"), metavar="NAME",
                   help="results names, e.g. vae_d2 vae_d10 vae_d20 (plain names: the run folder --runs/NAME, the "
                        "results file --results-dir/NAME.json)")
    p.add_argument("--runs", type=cli.path_text, default="runs/reproduce", help="folder holding one run folder per name")
    p.add_argument("--results-dir", type=cli.path_text, default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--iwae-images", type=cli.eval_number("iwae_images"), default=500,
                   help="test images for the IWAE bound against K")
    p.add_argument("--fit-k", type=cli.number(int, 1, MAX_COMPONENTS), default=500,
                   help="components / pseudo-inputs of the fitted priors")
    p.add_argument("--fit-steps", type=cli.number(int, 0, 1_000_000, what="0 = no fitted priors"), default=1000)
    p.add_argument("--data-root", type=cli.path_text, default=None)
    p.add_argument("--threads", type=cli.eval_number("threads", what="0 = all cores"), default=1)
    p.add_argument("--no-verify-data", dest="no_verify", action="store_true", help="skip the MNIST checksum (test data)")
    p.add_argument("--surgery-samples", type=cli.number(int, 1, 10_000_000), default=None,
                   help="draws from q_agg for the fitted priors' marginal KL (default N; log q_agg always over all N)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--measure-to", type=cli.path_text, default=None,
                     help="only measure (needs just the checkpoint) and save to this folder; --merge-from adds it later")
    how.add_argument("--merge-from", type=cli.path_text, default=None,
                     help="add measurements saved by --measure-to to the results files")
    return p


def _check(a) -> dict:
    """Check the options together and the files they name, before any work; return the resolved folders."""
    from . import cli
    from .io import UsageError

    if len(set(a.names)) != len(a.names):
        raise UsageError(f"a name is given twice ({' '.join(a.names)}): give each name once")
    results = cli.check_folder(a.results_dir, "--results-dir")
    folders = {"results": results}
    for name in a.names:
        cli.inside(results, results / f"{name}.json", "--results-dir")
        cli.inside(results, results / f"{name}.priors.npz", "--results-dir")
    if a.merge_from:
        src = Path(a.merge_from).expanduser().absolute()
        for name in a.names:
            f = cli.inside(src, src / f"{name}.json", "--merge-from")
            if not f.is_file():
                raise UsageError(f"{f} not found: measure it first with --measure-to {src}")
            if not (results / f"{name}.json").is_file():
                raise UsageError(f"{results / (name + '.json')} not found: evaluate the run first "
                                 f"(python -m training evaluate RUN --name {name})")
        folders["merge_from"] = src
        return folders
    runs = Path(a.runs).expanduser().absolute()
    if not runs.is_dir():
        raise UsageError(f"--runs {runs} is not a folder: give the folder that holds one run folder per name")
    for name in a.names:
        ckpt = cli.inside(runs, runs / name, "--runs") / "checkpoint.pt"
        if not ckpt.is_file():
            raise UsageError(f"{ckpt} not found: --runs must hold a trained run folder named {name}")
        if not a.measure_to and not (results / f"{name}.json").is_file():
            raise UsageError(f"{results / (name + '.json')} not found: evaluate the run first "
                             f"(python -m training evaluate {runs / name} --name {name}), or use --measure-to")
        if not a.measure_to:
            from . import result_files

            result_files.load_path(results / f"{name}.json")  # damaged or invalid: said now, not after measuring
    if a.measure_to:
        folders["measure_to"] = cli.check_folder(a.measure_to, "--measure-to")
        for name in a.names:
            cli.inside(folders["measure_to"], folders["measure_to"] / f"{name}.json", "--measure-to")
    folders["runs"] = runs
    return folders


def _load_measurement(path: Path, name: str) -> dict:
    from .io import TrainingError

    try:
        m = json.loads(path.read_text())
        ok = isinstance(m, dict) and m.get("name") == name and isinstance(m.get("epochs"), int) and all(
            k in m for k in ("seed", "active_units", "iwae_vs_k", "fitted", "seconds"))
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise TrainingError(f"{path} is not a measurement of {name} written by --measure-to (damaged or another "
                            f"file): measure again with --measure-to")
    return m


def _main(a) -> int:
    from .io import prepare_folder

    folders = _check(a)
    results = folders["results"]
    for name in a.names:
        if a.merge_from:
            b = merge(_load_measurement(folders["merge_from"] / f"{name}.json", name), results)
        else:
            prepare_folder(results, "--results-dir")
            files = None if a.measure_to else {}
            m = measure(name, folders["runs"] / name, results, a.iwae_images, a.fit_k, a.fit_steps,
                        data_root=a.data_root, threads=a.threads, verify=not a.no_verify,
                        surgery_samples=a.surgery_samples, files=files)
            if a.measure_to:
                to = prepare_folder(folders["measure_to"], "--measure-to")
                atomic_write(to / f"{name}.json", json.dumps(m, indent=2) + "\n")
                print(name, "measured:", {k: round(v["value"], 2) for k, v in m["iwae_vs_k"]["bounds"].items()},
                      flush=True)
                continue
            b = merge(m, results, files)
        print(name, json.dumps({k: v for k, v in b.items() if k in ("optimal_prior", "active_units")})[:300],
              {k: round(v["value"], 2) for k, v in b["iwae_vs_k"]["bounds"].items()}, flush=True)
    return 0


def main(argv=None) -> int:
    """Run the command line; return the exit code (0; 2 a bad option, name or missing file; 1 a damaged file or
    another failure; 130 interrupted). Every error is one line ``error: ...``, never a traceback."""
    from . import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.run_parsed(argv, build_parser(), _main,
                          memory_hint="lower --fit-k, --iwae-images or --surgery-samples")


if __name__ == "__main__":
    sys.exit(main())
