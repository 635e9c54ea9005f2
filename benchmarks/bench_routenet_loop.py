"""Steps/second of the batched route network vs a one-domain-at-a-time implementation (CPU).

The reference mirrors the structure of the authors' code: ``nn.ModuleList``s of ``M`` encoders and
``M`` decoders (``nn.Linear``, no bias) and a Python loop over encoders and, inside it, over decoders,
so that every step computes all ``M^2`` routes; the loss is masked to the trained routes. Both train
one network (one replica) with cross-entropy and SGD + momentum on MNIST-sized inputs (d = 784,
hidden size 128, 10 classes, batch 8 per step as in Table 1). The batched side computes every route
too (:func:`gdln.engines.routenet.sgd_step`, ``engine="all"``: hand-written backward pass, momentum
accumulated in place), so the two do the same arithmetic; ``benchmarks/bench_routenet.py`` compares
it with the trained-route engine that ``train`` runs by default.

    python benchmarks/bench_routenet_loop.py [--M 40 100] [--batch 8] [--seconds 5] [--threads 1]

On a shared machine, ``--threads 1`` gives steadier numbers (multi-threaded kernels stall when
another process holds a core; the Python-loop reference is mostly single-threaded overhead).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from gdln.engines import routenet as RN
from gdln.tasks.images import label_permutations
from gdln.tasks.routing import trained_routes


class LoopRouteNet(nn.Module):
    """One encoder / decoder module per domain, evaluated in Python loops (the authors' structure)."""

    def __init__(self, M: int, d: int, n_h: int, n_out: int):
        super().__init__()
        self.enc = nn.ModuleList(nn.Linear(d, n_h, bias=False) for _ in range(M))
        self.hid = nn.Linear(n_h, n_h, bias=False)
        self.dec = nn.ModuleList(nn.Linear(n_h, n_out, bias=False) for _ in range(M))

    def loss(self, xb, targets, mask):
        total, count = 0.0, 0
        for i, enc in enumerate(self.enc):
            z = self.hid(enc(xb[i]))
            for j, dec in enumerate(self.dec):
                out = dec(z)  # every route is computed, as in the authors' code
                if mask[i, j]:
                    total = total + nn.functional.cross_entropy(out, targets[j])
                    count += 1
        return total / count


def _rate(step, seconds: float, min_steps: int = 3, repeats: int = 3) -> float:
    """Best of ``repeats`` measurements of steps/second (the machine may be shared), after warm-up."""
    for _ in range(2):
        step()
    best = 0.0
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while n < min_steps or time.perf_counter() - t0 < seconds / repeats:
            step()
            n += 1
        best = max(best, n / (time.perf_counter() - t0))
    return best


def bench(M: int, batch: int, seconds: float, d: int = 784, n_h: int = 128) -> tuple[float, float]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(M, batch, d, generator=g)
    targets = label_permutations(M, seed=0)[:, torch.randint(0, 10, (batch,), generator=g)]
    mask = trained_routes(M, max(1, M // 4), seed=0)

    loop = LoopRouteNet(M, d, n_h, 10)
    opt = torch.optim.SGD(loop.parameters(), lr=1e-4, momentum=0.9)

    def loop_step():
        opt.zero_grad()
        loop.loss(x, targets, mask).backward()
        opt.step()

    net = RN.init_routenet(M, d, n_h, 10, [1.0], generator=g)
    bufs = [torch.zeros_like(p) for p in net.parameters()]
    lr = torch.tensor([1e-4])

    def batched_step():  # engine="all": hand-written gradient, fused momentum update
        RN.sgd_step(net, x, targets, mask[None], bufs, lr, loss="ce", momentum=0.9)

    return _rate(loop_step, seconds), _rate(batched_step, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--M", type=int, nargs="+", default=[40, 100])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, d=784, n_h=128")
    print(f"{'M':>5} {'routes':>7} {'loop steps/s':>13} {'batched steps/s':>16} {'speed-up':>9}")
    for M in a.M:
        lo, ba = bench(M, a.batch, a.seconds)
        print(f"{M:>5} {M * M:>7} {lo:>13.2f} {ba:>16.2f} {ba / lo:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
