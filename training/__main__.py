"""Command line of the trainer.

    python -m training train --latent-dim 2 --epochs 50 --out-dir runs/vae_d2    # train (the default command)
    python -m training train --out-dir runs/vae_d2 --epochs 80 --resume          # continue a run
    python -m training train --out-dir runs/vae_d2 --overwrite                   # replace a run
    python -m training evaluate runs/vae_d2 --name vae_d2                        # write training/results/vae_d2.*
    python -m training reproduce --minutes 60                                    # Table 1 in one job
    python -m training calibrate --batch-sizes 100 250                           # images/s of the step here

Every error is one line on stderr naming the problem and the fix, never a traceback. Exit codes: 0 success,
2 usage (a bad value, flag or path), 1 failure (damaged file, disk full, divergence, busy folder), 130
interrupted (Ctrl-C or SIGTERM; the message says how to resume). ``ELBO_LAB_DEBUG=1`` shows the traceback of an
unexpected error.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys

from .config import TrainConfig
from . import cli
from .cli import OneLineParser, nul_in_argv, run_main

PROG = "python -m training"


def field_help() -> dict[str, str]:
    """``--help`` text of every ``TrainConfig`` field, from its ``metadata["help"]``."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(TrainConfig)}


def _add_config_args(p: argparse.ArgumentParser) -> None:
    """One option per ``TrainConfig`` field (:func:`training.cli.add_config_option`). Defaults are suppressed, so
    the options given are known: a resumed run takes every other value from its checkpoint. Values are checked by
    the config itself (its message names the field)."""
    for f in dataclasses.fields(TrainConfig):
        cli.add_config_option(p, f.name, default=argparse.SUPPRESS, checked=False)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Train and evaluate the ELBO Lab VAE.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    pt = sub.add_parser("train", help="train, resume (--resume) or replace (--overwrite) a VAE run")
    _add_config_args(pt)
    how = pt.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true", help="continue the run in --out-dir; options not given "
                     "keep the run's values, and changed ones are recorded in its history")
    how.add_argument("--overwrite", action="store_true", help="replace the run in --out-dir")
    pt.add_argument("--download", action="store_true", help="fetch MNIST with torchvision if missing (internet)")
    pe = sub.add_parser("evaluate", help="write the results file of a finished run")
    pe.add_argument("run_dir", help="the run folder (holds checkpoint.pt)")
    pe.add_argument("--name", type=cli.name("--name"), default=None, help="results name, a plain file stem (default vae_d{D}); the files "
                    "go to --results-dir")
    pe.add_argument("--results-dir", type=cli.path_text, default=None, help="default: the package's training/results/")
    pe.add_argument("--data-root", type=cli.path_text, default=None, help="folder holding MNIST/raw (default: the run's, else "
                    "$ELBO_LAB_DATA, else ./data)")
    pe.add_argument("--verify-data", action=argparse.BooleanOptionalAction, default=True,
                    help="check the sha256 of the MNIST files (default: on)")
    pe.add_argument("--iwae-k", type=cli.eval_number("iwae_k"), default=1000, help="importance samples per test image, 1-100000 "
                    "(IWAE bound; default 1000)")
    pe.add_argument("--iwae-images", type=cli.eval_number("iwae_images"), default=1000, help="test images for the IWAE bound, 2-10000 "
                    "(default 1000)")
    pe.add_argument("--train-subset", type=cli.eval_number("train_subset"), default=None, help="evaluate on the first n training images, "
                    "2-60000 (default all)")
    pe.add_argument("--threads", type=cli.eval_number("threads"), default=0, help="CPU threads for torch, 0-256 (0 = all cores)")
    pe.add_argument("--note", default="", help="how the run was trained, kept in the results' provenance")
    pe.add_argument("--allow-flagged", action="store_true", help="write results whose terms fail the schema "
                    "(NaN, MI outside [0, log N], ...), listed in train.flags; readers still refuse them")
    pr = sub.add_parser("reproduce", help="train and evaluate the three Table 1 models in one resumable job")
    from .reproduce import add_arguments as _reproduce_arguments

    _reproduce_arguments(pr)
    pc = sub.add_parser("calibrate", help="measure the training step's images/s on this machine, one JSON line "
                        "(reproduce runs it, side by side, to plan its epochs)")
    pc.add_argument("--batch-sizes", type=cli.config_number("batch_size"), nargs="+", default=[100], metavar="B",
                    help="batch sizes to measure (default: 100)")
    pc.add_argument("--seconds", type=cli.number(float, 0.0, 3600.0, lo_open=True), default=6.0,
                    help="seconds of measurement per batch size (default 6)")
    pc.add_argument("--threads", type=cli.config_number("threads", lo=1), default=1, help="torch threads (default 1)")
    pc.add_argument("--latent-dim", type=cli.config_number("latent_dim"), default=20,
                    help="D of the 784-500-500-D model measured (default 20)")
    cli.add_config_option(pc, "device")
    cli.add_config_option(pc, "gradients")
    return parser


def _train(args, argv) -> None:
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    if "hidden" in given:
        given["hidden"] = tuple(given["hidden"])
    from .train import config_for_resume, train

    if args.resume:
        cfg = config_for_resume(given.get("out_dir", TrainConfig.out_dir), given)
    else:
        cfg = TrainConfig(**given)  # validated as it is made
    from .data import prepare_mnist, require_mnist

    if args.download:
        prepare_mnist(cfg.data_root, verify=cfg.verify_data, download=True)
    else:
        require_mnist(cfg.data_root)  # a wrong --data-root is refused before the run folder is made
    out = train(cfg, resume=args.resume, overwrite=args.overwrite)
    print(f"run folder: {out}  (next: {PROG} evaluate {shlex.quote(str(out))})")


def _evaluate(args, argv) -> None:
    from .evaluate import evaluate_run

    path = evaluate_run(args.run_dir, name=args.name, results_dir=args.results_dir, data_root=args.data_root,
                        iwae_k=args.iwae_k, iwae_images=args.iwae_images, train_subset=args.train_subset,
                        threads=args.threads, note=args.note, command=f"{PROG} {shlex.join(argv)}",
                        verify=args.verify_data, allow_flagged=args.allow_flagged)
    print(f"results: {path}")


def _reproduce(args, argv) -> None:
    from .io import TrainingError
    from .reproduce import reproduce

    try:
        reproduce(args)
    except KeyboardInterrupt:
        raise TrainingError(f"interrupted: each run is kept up to its last finished epoch and every file is whole; "
                            f"continue with: {PROG} {shlex.join(argv)}", exit_code=130) from None


def _calibrate(args, argv) -> None:
    import json

    from .config import resolve_device
    from .plan import calibrate

    rates = calibrate(args.batch_sizes, args.seconds, args.threads, latent_dim=args.latent_dim,
                      device=str(resolve_device(args.device)), gradients=args.gradients)
    print("CALIBRATION " + json.dumps(rates), flush=True)


COMMANDS = {"train": _train, "evaluate": _evaluate, "reproduce": _reproduce, "calibrate": _calibrate}


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # handled like Ctrl-C: the run is kept up to its last finished epoch


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0, 1 failure, 2 usage, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]
    previous = signal.signal(signal.SIGTERM, _sigterm) if _main_thread() else None

    def go() -> int:
        nul_in_argv(argv)  # no path, name or number can hold one; os calls would raise a bare ValueError
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # --help (0) or a usage error already printed as one line (2)
            return int(e.code or 0)
        COMMANDS[args.command](args, argv)
        return 0

    try:
        return run_main(go, memory_hint="lower --batch-size or --hidden, or use a --train-subset",
                        interrupted="run the same command again (train: add --resume)")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
