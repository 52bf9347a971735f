"""Benchmark: trainer throughput against a pytorch/examples-style loop, and against the matmul roofline.

Same model (784-500-500-D MLP VAE, softplus), at each batch size of the reproduce recipe (100 and 250; issue 14 asks >= 70% of the roofline there), same torch threads, all measured in one process and
interleaved round by round (this VM's speed drifts by +-20% from minute to minute; medians over rounds are
reported):

1. baseline: pytorch/examples ``vae/main.py`` data path -- ``torchvision.datasets.MNIST`` with ``ToTensor``,
   a shuffling ``DataLoader``, per-batch ``torch.bernoulli`` binarization, autograd, Adam (images/s);
2. ours: :func:`training.train.train` for one epoch on the same images (dataset as one tensor), with the default
   hand-written ELBO gradient (``gradients="manual"``) and with autograd (images/s from its metrics);
3. roofline: plain ``torch.matmul`` on exactly the matrix products one training step needs, in ``nn.Linear``'s
   memory layout -- per layer the forward ``x W^T``, the weight gradient ``g^T x`` and, for every layer except the
   encoder's first (its input is data), the input gradient ``g W`` -- giving the GFLOP/s this machine reaches on
   those shapes.

"Effective GFLOP/s" of a trainer = those FLOPs per image x images/s. Goals (issue 4): ours >= 3x the baseline,
and >= 70% of the roofline. Finally a profile of the default step shows where the time that is not matrix
products goes. Needs MNIST (``--data-root`` or ``$ELBO_LAB_DATA``).

    python benchmarks/bench_training.py [--latent-dim 20] [--images 10000] [--threads 1 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch


def linear_shapes(d: int, hidden=(500, 500), x_dim: int = 784) -> list[tuple[int, int]]:
    """(in, out) of every linear layer: encoder 784-500-500-2D, decoder D-500-500-784."""
    enc = [x_dim, *hidden, 2 * d]
    dec = [d, *reversed(hidden), x_dim]
    return list(zip(enc[:-1], enc[1:])) + list(zip(dec[:-1], dec[1:]))


def flops_per_image(d: int) -> float:
    """Multiply-add FLOPs of one training step per image: 2*in*out for each product the step computes."""
    shapes = linear_shapes(d)
    return sum(2.0 * i * o * (2 if k == 0 else 3) for k, (i, o) in enumerate(shapes))


def roofline_images_per_s(d: int, batch: int, reps: int = 20) -> float:
    """images/s if a step were nothing but its matrix products, as plain ``torch.matmul`` calls."""
    g = torch.Generator().manual_seed(0)
    mats = [(torch.randn(batch, i, generator=g), torch.randn(o, i, generator=g), torch.randn(batch, o, generator=g))
            for i, o in linear_shapes(d)]

    def step():
        for k, (x, w, gy) in enumerate(mats):
            torch.matmul(x, w.t())  # forward
            torch.matmul(gy.t(), x)  # weight gradient
            if k:
                torch.matmul(gy, w)  # input gradient (not needed for the data layer)

    step()
    t = time.perf_counter()
    for _ in range(reps):
        step()
    return batch * reps / (time.perf_counter() - t)


def baseline_images_per_s(d: int, root, n_images: int, batch: int) -> float:
    import torchvision
    from torch.utils.data import DataLoader, Subset

    from training.model import VAE

    ds = torchvision.datasets.MNIST(str(root), train=True, download=False, transform=torchvision.transforms.ToTensor())
    loader = DataLoader(Subset(ds, range(n_images)), batch_size=batch, shuffle=True)
    torch.manual_seed(0)
    model = VAE(latent_dim=d)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t, seen = time.perf_counter(), 0
    for x, _ in loader:
        x = torch.bernoulli(x.view(-1, 784))
        loss = -model(x).elbo.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(x)
    return seen / (time.perf_counter() - t)


def ours_images_per_s(d: int, images: torch.Tensor, batch: int, threads: int, gradients: str) -> float:
    from training.config import TrainConfig
    from training.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(latent_dim=d, epochs=1, batch_size=batch, out_dir=tmp, progress=False, test_every=0,
                          threads=threads, gradients=gradients)
        out = train(cfg, data=(images, None))
        return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["images_per_s"]


def step_profile(d: int, images: torch.Tensor, batch: int, steps: int = 50) -> dict[str, float]:
    """ms per step of the default step (binarize, manual ELBO gradient, fused Adam), by kind of operation."""
    from torch.profiler import ProfilerActivity, profile

    from training.data import binarize
    from training.elbo_step import ManualElboStep
    from training.model import VAE

    torch.manual_seed(0)
    model = VAE(latent_dim=d)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    step = ManualElboStep(model)
    n = len(images) // batch

    def run(k):
        x = binarize(images[(k % n) * batch : (k % n + 1) * batch])
        step.step(x)
        opt.step()

    for k in range(10):
        run(k)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for k in range(steps):
            run(k)
        wall = time.perf_counter() - t
    kinds = {"matrix products": 0.0, "Adam update": 0.0, "softplus forward/backward": 0.0}
    for e in prof.key_averages():
        if e.key in ("aten::mm", "aten::addmm"):
            kinds["matrix products"] += e.self_cpu_time_total
        elif e.key == "aten::_fused_adam_":
            kinds["Adam update"] += e.self_cpu_time_total
        elif e.key in ("aten::softplus", "aten::softplus_backward"):
            kinds["softplus forward/backward"] += e.self_cpu_time_total
    out = {k: v / 1e3 / steps for k, v in kinds.items()}
    out["everything else (elementwise, RNG, Python, dispatch)"] = wall * 1e3 / steps - sum(out.values())
    out["step (under the profiler)"] = wall * 1e3 / steps
    return out


def bench(d: int, images: torch.Tensor, root, batch: int, threads: int, rounds: int) -> dict:
    torch.set_num_threads(threads)
    runs = {"baseline": [], "manual": [], "autograd": [], "roofline": []}
    for _ in range(rounds):
        runs["baseline"].append(baseline_images_per_s(d, root, len(images), batch))
        runs["manual"].append(ours_images_per_s(d, images, batch, threads, "manual"))
        runs["autograd"].append(ours_images_per_s(d, images, batch, threads, "autograd"))
        runs["roofline"].append(roofline_images_per_s(d, batch))
    med = {k: statistics.median(v) for k, v in runs.items()}
    f = flops_per_image(d) / 1e9
    print(f"\n== torch threads {torch.get_num_threads()}: medians of {rounds} interleaved rounds "
          f"(min..max in brackets), images/s and effective GFLOP/s")
    for k, label in (("baseline", "baseline (torchvision ToTensor + DataLoader)"),
                     ("manual", "ours, default (hand-written ELBO gradient)"),
                     ("autograd", "ours, --gradients autograd"),
                     ("roofline", "matmul roofline at the step's products")):
        v = runs[k]
        print(f"  {label:46s} {med[k]:7.0f} img/s [{min(v):5.0f}..{max(v):5.0f}]  {med[k] * f:6.1f} GFLOP/s")
    speed = med["manual"] / med["baseline"]
    share = med["manual"] / med["roofline"]
    print(f"  ours / baseline  = {speed:.2f}x   (goal >= 3x: {'met' if speed >= 3 else 'NOT met'})")
    print(f"  ours / roofline  = {100 * share:.0f}%   (goal >= 70%: {'met' if share >= 0.7 else 'NOT met'})"
          f"   [autograd: {100 * med['autograd'] / med['roofline']:.0f}%]")
    prof = step_profile(d, images, batch)
    print("  where one default step's time goes (torch.profiler, ms/step):")
    for k, v in prof.items():
        print(f"    {k:56s} {v:6.2f}")
    return {"threads": threads, "medians": med, "speedup": speed, "roofline_share": share, "profile_ms": prof}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent-dim", type=int, default=20)
    ap.add_argument("--images", type=int, default=10000, help="training images per measured pass")
    ap.add_argument("--batch-size", type=int, nargs="+", default=None,
                    help="batch sizes to measure (default: the reproduce recipe's, training.recipe.RECIPE)")
    ap.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}),
                    help="torch thread counts to measure (default: 1 and all cores)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds (medians reported)")
    ap.add_argument("--data-root", default=None)
    a = ap.parse_args()
    from training.data import load_mnist, prepare_mnist
    from training.recipe import RECIPE

    batches = a.batch_size or sorted({RECIPE["batch_size"], RECIPE["batch_size_late"] or RECIPE["batch_size"]})

    root = prepare_mnist(a.data_root)
    images, _ = load_mnist(True, a.data_root, subset=a.images)
    for batch in batches:
        print(f"VAE 784-500-500-{a.latent_dim} (softplus), batch {batch}, {a.images} images per pass; "
              f"{flops_per_image(a.latent_dim) / 1e6:.2f} MFLOP of matrix products per image per step")
        for t in a.threads:
            bench(a.latent_dim, images, root, batch, t, a.rounds)


if __name__ == "__main__":
    main()
