"""Benchmark: trainer throughput against a pytorch/examples-style loop, and against the matmul roofline.

Three measurements in one process, same model (784-500-500-D MLP VAE), batch 100, same threads:

1. baseline: pytorch/examples ``vae/main.py`` data path — ``torchvision.datasets.MNIST`` with ``ToTensor``,
   a shuffling ``DataLoader``, per-batch Bernoulli binarization — running our VAE's step (images/s);
2. ours: :func:`training.train.train` on the same images (the dataset is one tensor; images/s from its metrics);
3. roofline: plain ``torch.matmul`` at exactly the GEMM shapes of one training step (forward, and the two
   backward products of every linear layer), giving the GFLOP/s this machine reaches on those shapes.

Prints ours / baseline (goal >= 3x) and ours' effective GFLOP/s / roofline (goal >= 70%). Needs MNIST
(``--data-root`` or ``$ELBO_LAB_DATA``).

    python benchmarks/bench_training.py [--latent-dim 20] [--images 10000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch


def linear_shapes(d: int, hidden=(500, 500), x_dim: int = 784):
    enc = [x_dim, *hidden, 2 * d]
    dec = [d, *reversed(hidden), x_dim]
    return list(zip(enc[:-1], enc[1:])) + list(zip(dec[:-1], dec[1:]))


def flops_per_image(d: int) -> float:
    # forward 2*in*out per layer, backward twice that (grad wrt input and weight)
    return sum(6.0 * i * o for i, o in linear_shapes(d))


def roofline_gflops(d: int, batch: int, reps: int = 30) -> float:
    mats = []
    for i, o in linear_shapes(d):
        x, w, gy = torch.randn(batch, i), torch.randn(i, o), torch.randn(batch, o)
        mats.append((x, w, gy))

    def step():
        for x, w, gy in mats:
            torch.matmul(x, w)  # forward
            torch.matmul(gy, w.t())  # grad wrt input
            torch.matmul(x.t(), gy)  # grad wrt weight

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(reps):
        step()
    return flops_per_image(d) * batch * reps / (time.perf_counter() - t) / 1e9


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


def ours_images_per_s(d: int, images: torch.Tensor, batch: int, threads: int) -> float:
    from training.config import TrainConfig
    from training.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(latent_dim=d, epochs=1, batch_size=batch, out_dir=tmp, progress=False, test_every=0,
                          threads=threads)
        out = train(cfg, data=(images, None))
        return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["images_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent-dim", type=int, default=20)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from training.data import load_mnist, prepare_mnist

    root = prepare_mnist(a.data_root)
    images, _ = load_mnist(True, a.data_root, subset=a.images)
    d, b = a.latent_dim, a.batch_size
    print(f"VAE 784-500-500-{d}, batch {b}, {a.images} images, torch threads {torch.get_num_threads()}")
    base = baseline_images_per_s(d, root, a.images, b)
    ours = ours_images_per_s(d, images, b, a.threads)
    roof = roofline_gflops(d, b)
    eff = ours * flops_per_image(d) / 1e9
    print(f"baseline (torchvision ToTensor + DataLoader): {base:8.0f} images/s")
    print(f"ours (dataset as one tensor)                : {ours:8.0f} images/s   -> {ours / base:.2f}x baseline "
          f"(goal >= 3x: {'met' if ours / base >= 3 else 'NOT met'})")
    print(f"matmul roofline at the step's GEMM shapes   : {roof:8.1f} GFLOP/s")
    print(f"ours, effective                             : {eff:8.1f} GFLOP/s -> {100 * eff / roof:.0f}% of roofline "
          f"(goal >= 70%: {'met' if eff / roof >= 0.7 else 'NOT met'})")


if __name__ == "__main__":
    main()
