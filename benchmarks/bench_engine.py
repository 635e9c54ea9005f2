"""Benchmark: the batched routing engine vs a loop of single networks (Fig. 5c setting).

10 seeds x 9 values of K (M = 10, N_h = 64, lambda = .05/K, sigma_0 = .2): 90 networks trained
as ONE batched tensor program (leading replica axis) versus a Python loop that trains the same 90
networks one at a time with the same engine (R = 1), and versus a plain per-network torch.autograd
loop (the way one would usually write it). Same number of gradient steps everywhere.

    python benchmarks/bench_engine.py [--steps 300] [--device cpu] [--threads 2]

Prints wall times and speed-ups; checks that the batched and looped results agree.
"""

from __future__ import annotations

import argparse
import time

import torch

from gdln.util.device import generator, resolve_device
from gdln.engines.routing import RoutingWeights, init_routing_weights, routing_loss, train_routing
from gdln.tasks.routing import routing_task, trained_route_masks


def setup(M=10, n_h=64, seeds=range(10), Ks=range(1, 10), device="cpu"):
    dev = resolve_device(device)
    pairs = [(s, k) for s in seeds for k in Ks]
    task = routing_task(M, 1, seed=0, dtype=torch.float32, device=dev)
    masks = trained_route_masks(M, [k for _, k in pairs], [s for s, _ in pairs]).to(dev)
    lr = torch.tensor([0.05 / k for _, k in pairs], device=dev)
    W0 = init_routing_weights(len(pairs), M, task.n_x, n_h, task.n_y, sigma0=0.2, generator=generator(0, dev))
    return task, masks, lr, W0


def batched(task, masks, lr, W0, steps):
    return train_routing(W0, task, lr=lr, steps=steps, record_every=max(steps // 10, 1), trained=masks,
                         record_sv=False)


def looped_engine(task, masks, lr, W0, steps):
    out = []
    for r in range(W0.R):
        Wr = RoutingWeights(W0.W1[r:r + 1], W0.W2[r:r + 1], W0.W3[r:r + 1])
        out.append(train_routing(Wr, task.with_trained(masks[r]), lr=float(lr[r]), steps=steps,
                                 record_every=max(steps // 10, 1), record_sv=False).loss_trained[-1, 0])
    return torch.stack(out)


def looped_autograd(task, masks, lr, W0, steps):
    out = []
    for r in range(W0.R):
        ws = [w[r:r + 1].clone().requires_grad_() for w in (W0.W1, W0.W2, W0.W3)]
        opt = torch.optim.SGD(ws, lr=float(lr[r]))
        t = task.with_trained(masks[r])
        for _ in range(steps):
            opt.zero_grad()
            L = routing_loss(RoutingWeights(*ws), t).sum()
            L.backward()
            opt.step()
        with torch.no_grad():
            out.append(routing_loss(RoutingWeights(*ws), t)[0])
    return torch.stack(out)


def timed(fn, *args):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return res, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-autograd", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    task, masks, lr, W0 = setup(device=a.device)
    print(f"routing engine benchmark: {W0.R} networks (10 seeds x 9 K), M=10, N_h=64, {a.steps} steps, "
          f"device={a.device}, threads={a.threads}")
    run, tb = timed(batched, task, masks, lr, W0, a.steps)
    print(f"  batched (one tensor program, R={W0.R}) : {tb:8.2f} s")
    loop, tl = timed(looped_engine, task, masks, lr, W0, a.steps)
    print(f"  loop of single networks (same engine)  : {tl:8.2f} s   speed-up x{tl / tb:5.1f}")
    err = (run.loss_trained[-1] - loop).abs().max().item() / run.loss_trained[-1].abs().max().item()
    print(f"  max rel. difference of final losses    : {err:.1e}")
    if not a.skip_autograd:
        ag, ta = timed(looped_autograd, task, masks, lr, W0, a.steps)
        print(f"  loop of single networks (autograd+SGD) : {ta:8.2f} s   speed-up x{ta / tb:5.1f}")
        err = (run.loss_trained[-1] - ag).abs().max().item() / run.loss_trained[-1].abs().max().item()
        print(f"  max rel. difference of final losses    : {err:.1e}")
    return tb, tl


if __name__ == "__main__":
    main()
