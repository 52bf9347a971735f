"""Command line of the trainer.

    python -m training train --latent-dim 2 --epochs 50 --out-dir runs/vae_d2    # train (the default command)
    python -m training train --out-dir runs/vae_d2 --epochs 80 --resume          # continue a run
    python -m training evaluate runs/vae_d2 --name vae_d2                        # write training/results/vae_d2.*

Errors in the configuration or the data print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from .config import ConfigError, TrainConfig
from .data import DataError


def _field_help() -> dict[str, str]:
    """The comment after each ``TrainConfig`` field (continuation comment lines joined), as ``--help`` text."""
    import inspect
    import re

    helps: dict[str, str] = {}
    last = None
    for line in inspect.getsource(TrainConfig).splitlines():
        m = re.match(r"\s{4}(\w+): [^#]*#\s*(.*)", line)
        if m:
            last = m.group(1)
            helps[last] = m.group(2).strip()
        elif last and re.match(r"\s{4}#\s{2,}", line):  # an indented continuation of the previous comment
            helps[last] += " " + line.strip().lstrip("#").strip()
        elif line.strip().startswith("def "):
            break
    return {k: v.replace("%", "%%") for k, v in helps.items()}


def _add_config_args(p: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    helps = _field_help()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                           help=helps[f.name])
        elif f.name == "hidden":
            p.add_argument(flag, dest=f.name, type=int, nargs="+", default=list(default),
                           help=helps[f.name] + " (default: %(default)s)")
        elif f.name in ("data_root", "train_subset"):
            p.add_argument(flag, dest=f.name, type=str if f.name == "data_root" else int, default=default,
                           help=helps[f.name])
        else:
            p.add_argument(flag, dest=f.name, type=type(default), default=default,
                           help=helps[f.name] + " (default: %(default)s)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        argv = ["train", *argv]
    parser = argparse.ArgumentParser(prog="python -m training", description="Train and evaluate the ELBO Lab VAE.")
    sub = parser.add_subparsers(dest="command", required=True)
    pt = sub.add_parser("train", help="train or resume a VAE run")
    _add_config_args(pt)
    pt.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pt")
    pt.add_argument("--download", action="store_true", help="fetch MNIST with torchvision if missing (internet)")
    pe = sub.add_parser("evaluate", help="write the results file of a finished run")
    pe.add_argument("run_dir", help="the run folder (holds checkpoint.pt)")
    pe.add_argument("--name", default=None, help="results name (default vae_d{D}); files go to --results-dir")
    pe.add_argument("--results-dir", default=None, help="default: the package's training/results/")
    pe.add_argument("--data-root", default=None)
    pe.add_argument("--iwae-k", type=int, default=1000, help="importance samples per test image (IWAE bound)")
    pe.add_argument("--iwae-images", type=int, default=1000, help="test images for the IWAE bound")
    pe.add_argument("--train-subset", type=int, default=None, help="evaluate on the first n training images")
    pe.add_argument("--threads", type=int, default=0)
    pe.add_argument("--note", default="", help="how the run was trained, kept in the results' provenance")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            ns = vars(args)
            cfg = TrainConfig(**{f.name: ns[f.name] for f in dataclasses.fields(TrainConfig)})
            cfg.hidden = tuple(cfg.hidden)
            if args.download:
                from .data import prepare_mnist

                prepare_mnist(cfg.data_root, verify=cfg.verify_data, download=True)
            from .train import train

            out = train(cfg, resume=args.resume)
            print(f"run folder: {out}  (next: python -m training evaluate {out})")
        else:
            from .evaluate import evaluate_run

            path = evaluate_run(args.run_dir, name=args.name, results_dir=args.results_dir, data_root=args.data_root,
                                iwae_k=args.iwae_k, iwae_images=args.iwae_images, train_subset=args.train_subset,
                                threads=args.threads, note=args.note, command=" ".join(["python -m training", *argv]))
            print(f"results: {path}")
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # TrainingDiverged and friends: one line, no traceback
        from .train import TrainingDiverged

        if isinstance(e, TrainingDiverged):
            print(f"error: {e}", file=sys.stderr)
            return 3
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
