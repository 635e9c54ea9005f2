"""Steps/second of the route network's training step: the trained-route engine against the all-routes one.

For ``M`` = 10, 40, 100 at batch 100 and a sweep's replica count (9 ``K`` values x 3 seeds, ``K`` the
experiments chapter's grid ``K/M`` in {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1}), on MNIST-sized
inputs (d = 784, N_h = 128, 10 classes, permuted-pixel domains), it times one SGD + momentum step of

- ``all``: every route computed and the loss masked (:func:`gdln.engines.routenet.sgd_step`, the
  engine of the archived M = 10 sweeps);
- ``trained``: only the trained routes, encoders in the unpermuted pixel basis
  (:func:`gdln.engines.routenet.trained_route_step`, what ``train`` runs now);

prints the FLOPs of each step (:func:`gdln.engines.routenet.step_flops`: matrix products only), the
rate in GFLOP/s and its fraction of this machine's matrix-product peak (measured here: the best of a
2048^3 product and the encoders' own product shape), and checks that the two
engines' loss histories over ``--check-steps`` steps agree to float32 round-off.

    python benchmarks/bench_routenet.py [--M 10 40 100] [--seeds 3] [--seconds 6] [--threads 0]

Timings on a shared machine vary; each figure is the best of three measurements.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench_routenet_loop import _rate  # one timing loop for both benchmarks (this folder is on sys.path)
from gdln.engines import routenet as RN
from gdln.tasks.images import pixel_permutations
from gdln.tasks.routing import trained_routes

FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def k_grid(M: int) -> list[int]:
    return sorted({max(1, round(f * M)) for f in FRACTIONS})


def matmul_peak(n: int = 2048) -> float:
    """GFLOP/s of the best of two float32 products: ``n^3`` square, and 100 x 784 against 784 x 15,360."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    x, w = torch.randn(100, 784), torch.randn(784, 15360)
    return max(2 * n ** 3 * _rate(lambda: a @ b, 2.0), 2 * 100 * 784 * 15360 * _rate(lambda: x @ w, 2.0)) / 1e9


def setup(M: int, seeds: int, B: int = 100, d: int = 784, n_h: int = 128):
    Ks = k_grid(M)
    masks = torch.stack([trained_routes(M, k, seed=s) for k in Ks for s in range(seeds)])
    R = masks.shape[0]
    net = RN.init_routenet(M, d, n_h, 10, [0.1] * R, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    perms = pixel_permutations(M, d, 0)
    return Ks, masks, net, perms, g


def bench(M: int, seeds: int, seconds: float, B: int = 100, d: int = 784):
    Ks, masks, net, perms, g = setup(M, seeds, B, d)
    R = masks.shape[0]
    x = torch.randn(B, d, generator=g)
    xb = x[:, perms].transpose(0, 1).contiguous()
    tg = torch.randint(0, 10, (M, B), generator=g)
    lr = torch.full((R,), 0.05)
    bufs = [torch.zeros_like(p) for p in net.parameters()]
    all_rate = _rate(lambda: RN.sgd_step(net, xb, tg, masks, bufs, lr), seconds)
    st, plan = RN.TrainLayout.of(net, perms), RN.route_plan(masks)
    tr_rate = _rate(lambda: RN.trained_route_step(st, x, tg, plan, lr), seconds)
    f_all, f_tr = (RN.step_flops(R, M, routes, batch=B, d=d, n_h=128) for routes in (R * M * M, int(masks.sum())))
    return R, Ks, all_rate, tr_rate, f_all, f_tr


def check(M: int, seeds: int, steps: int, n: int = 600, d: int = 784) -> float:
    """Largest relative difference of the two engines' loss histories over ``steps`` steps (float32)."""
    Ks, masks, net, perms, g = setup(M, seeds)
    dom = RN.Domains(torch.randn(n, d, generator=g), perms)
    y = torch.randint(0, 10, (n,), generator=g)
    from gdln.tasks.images import label_permutations
    lp = label_permutations(M, seed=1)
    kw = dict(steps=steps, lr=0.05, momentum=0.9, batch_size=100, seed=0, record_every=1, progress=False)
    a = RN.RouteNet(*(p.clone() for p in net.parameters()))
    h_all = RN.train(a, dom, y, lp, masks, engine="all", **kw).losses()
    h_tr = RN.train(net, dom, y, lp, masks, engine="trained", **kw).losses()
    return float(((h_all - h_tr).abs() / h_all.abs()).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--M", type=int, nargs="+", default=[10, 40, 100])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--check-steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; matrix-product peak {peak:.0f} GFLOP/s "
          "(2048^3, float32); batch 100, d = 784, N_h = 128, permuted-pixel domains")
    print(f"{'M':>4} {'R':>4} {'all: steps/s':>13} {'GFLOP/step':>11} {'% peak':>7} "
          f"{'trained: steps/s':>17} {'GFLOP/step':>11} {'% peak':>7} {'speed-up':>9} {'loss rel. diff':>15}")
    for M in a.M:
        R, Ks, ra, rt, fa, ft = bench(M, a.seeds, a.seconds)
        diff = check(M, a.seeds, a.check_steps) if a.check_steps else float("nan")
        print(f"{M:>4} {R:>4} {ra:>13.3f} {fa / 1e9:>11.1f} {100 * ra * fa / 1e9 / peak:>6.0f}% "
              f"{rt:>17.3f} {ft / 1e9:>11.1f} {100 * rt * ft / 1e9 / peak:>6.0f}% {rt / ra:>8.2f}x {diff:>15.1e}",
              flush=True)


if __name__ == "__main__":
    main()
