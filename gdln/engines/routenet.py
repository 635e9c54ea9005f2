"""The route network of the MNIST/CIFAR experiments, batched over domains, routes and replicas (App. D.1).

``M`` encoders ``phi_i`` (input domains), one shared hidden layer ``theta`` and ``M`` decoders ``psi_j``
(output domains); route ``(i, j)`` predicts ``psi_j(theta(phi_i(x_i)))``. In GDLN terms the encoders
are input nodes' edges, the decoders output nodes' edges, and the gate of an example switches on one
input and one output node (Sec. 2), so the loss is masked to the trained routes (App. D.2) and
untrained routes get no gradient.

All ``M^2`` routes of all ``R`` replicas (seeds x sweep points: K values, init gains) are computed in
one batched pass of three ``einsum`` contractions; there is no Python loop over domains, routes or
replicas. A training step (:func:`sgd_step`) runs the same forward pass and a hand-written backward
pass (the chain rule of the masked loss; equal to autograd's to round-off, tested) that writes the
encoder gradient, the largest tensor, straight into the momentum buffer: at MNIST size the step is
bound by memory traffic over the ``M`` encoders' weights, not by arithmetic.
:func:`route_outputs_loop` is a one-domain-at-a-time reference (the structure of the
authors' code), used by the tests and ``benchmarks/bench_routenet.py``.

Weights carry a leading replica axis: ``enc (R, M, N_h, d)``, ``hid (R, N_h, N_h)``, ``dec (R, M, C, N_h)``.
No biases (the paper's sweeps). Optional leaky-ReLU (slope 0.01, Fig. 9) after the encoder and after
the hidden layer.

Protocols (both available):

- ``loss="ce"`` with minibatch SGD + momentum (the authors' code: lr 1e-4, momentum 0.9, batch 8);
- ``loss="mse"`` with full-batch gradient descent (the theory's protocol, Eq. 1): one step of size
  ``lr`` advances training time by ``dt = lr`` (in units of tau).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from gdln.tasks.images import Domains
from gdln.tasks.routing import trained_routes

__all__ = ["NONLINEARITIES", "LOSSES", "LEAKY_SLOPE", "RouteNet", "init_routenet", "route_outputs",
    "route_outputs_loop", "route_targets", "route_losses", "masked_loss", "route_weights",
    "losses_and_output_gradient", "masked_step_gradients", "sgd_step", "RoutePlan", "route_plan", "TrainLayout",
    "trained_route_step", "step_flops", "ENGINES", "History", "train", "route_accuracy",
    "split_accuracy", "transfer_threshold", "plateau_exit", "mean_se", "SweepResult", "run_sweep"]

NONLINEARITIES = ("linear", "leaky_relu")
LOSSES = ("ce", "mse")
LEAKY_SLOPE = 0.01


@dataclass
class RouteNet:
    """Weights of ``R`` route networks (replica axis first) and their nonlinearity."""

    enc: torch.Tensor  # (R, M, N_h, d)
    hid: torch.Tensor  # (R, N_h, N_h)
    dec: torch.Tensor  # (R, M, C, N_h)
    nonlinearity: str = "linear"

    @property
    def replicas(self) -> int:
        return self.enc.shape[0]

    @property
    def M(self) -> int:
        return self.enc.shape[1]

    def parameters(self) -> list[torch.Tensor]:
        return [self.enc, self.hid, self.dec]





def init_routenet(M: int, d: int, n_h: int, n_out: int, gains, *, generator: torch.Generator,
                  nonlinearity: str = "linear", dtype=torch.float32, device="cpu") -> RouteNet:
    """Xavier-uniform init with one gain per replica shared by all layers (authors' code).

    ``W ~ U(-b, b)``, ``b = gain * sqrt(6 / (fan_in + fan_out))``; ``gains`` has one entry per replica.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    gains = torch.as_tensor(gains, dtype=dtype).reshape(-1)
    if (gains <= 0).any():
        raise ValueError(f"gains must be positive, got {gains.tolist()}")
    R = gains.numel()

    def u(shape, fan_in, fan_out):
        b = gains.view(R, *([1] * (len(shape) - 1))) * math.sqrt(6.0 / (fan_in + fan_out))
        w = torch.rand(shape, generator=generator, dtype=dtype, device=generator.device) * 2 - 1
        return (w * b.to(w.device)).to(device)

    return RouteNet(enc=u((R, M, n_h, d), d, n_h), hid=u((R, n_h, n_h), n_h, n_h),
                    dec=u((R, M, n_out, n_h), n_h, n_out), nonlinearity=nonlinearity)


def _act(x: torch.Tensor, nonlinearity: str) -> torch.Tensor:
    return x if nonlinearity == "linear" else F.leaky_relu(x, LEAKY_SLOPE)


def route_outputs(net: RouteNet, xb: torch.Tensor) -> torch.Tensor:
    """Outputs of every route of every replica: ``xb (M, B, d)`` -> ``(R, M_in, M_out, B, C)``.

    Three batched matrix products: encoders (batched over replicas and input domains), the shared
    layer, and all decoders at once (batched over replicas, every input domain against every
    decoder). The result is a permuted view of an ``(R, M_in, B, M_out, C)`` tensor (no copy).
    """
    R, M, Nh = net.replicas, net.M, net.hid.shape[-1]
    B, C = xb.shape[1], net.dec.shape[2]
    h = _act(torch.matmul(xb, net.enc.transpose(-1, -2)), net.nonlinearity)  # (R, M, B, N_h)
    z = _act(torch.matmul(h.reshape(R, M * B, Nh), net.hid.transpose(-1, -2)), net.nonlinearity)
    o = torch.matmul(z, net.dec.reshape(R, M * C, Nh).transpose(-1, -2))  # (R, M*B, M*C)
    return o.view(R, M, B, M, C).permute(0, 1, 3, 2, 4)


def route_outputs_loop(net: RouteNet, xb: torch.Tensor) -> torch.Tensor:
    """Reference: the same outputs, one replica, encoder and decoder at a time (Python loops)."""
    R, M = net.replicas, net.M
    out = []
    for r in range(R):
        rows = []
        for i in range(M):
            z = _act(_act(xb[i] @ net.enc[r, i].T, net.nonlinearity) @ net.hid[r].T, net.nonlinearity)
            rows.append(torch.stack([z @ net.dec[r, j].T for j in range(M)]))
        out.append(torch.stack(rows))
    return torch.stack(out)


def route_targets(labels: torch.Tensor, label_perms: torch.Tensor) -> torch.Tensor:
    """Targets of each output domain: ``labels (B,)``, ``label_perms (M, C)`` -> ``(M, B)`` class ids."""
    return label_perms[:, labels]


def route_losses(out: torch.Tensor, targets: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """Per-route loss averaged over the batch: ``out (R, M, M, B, C)``, ``targets (M, B)`` -> ``(R, M, M)``.

    ``"ce"``: softmax cross-entropy. ``"mse"``: ``0.5 * ||onehot(y) - out||^2`` (Eq. 1's squared error).
    """
    R, M, N, B, C = out.shape
    o = out.transpose(2, 3)  # (R, M_in, B, M_out, C): contiguous for route_outputs' result
    t = targets.T  # (B, M_out)
    if loss == "ce":
        picked = o.gather(-1, t.expand(R, M, B, N).unsqueeze(-1)).squeeze(-1)
        return (torch.logsumexp(o, -1) - picked).mean(-2)
    if loss == "mse":
        y = F.one_hot(t, C).to(out.dtype)  # (B, M_out, C)
        return 0.5 * ((o - y) ** 2).sum(-1).mean(-2)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def masked_loss(per_route: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean loss over the trained routes of each replica, ``(R,)``: the gates of App. D.2."""
    m = mask.to(per_route.dtype)
    return (per_route * m).sum((1, 2)) / m.sum((1, 2))


def _act_backward(pre: torch.Tensor, grad: torch.Tensor, nonlinearity: str) -> torch.Tensor:
    """``grad * act'(pre)`` (leaky ReLU: slope 1 where ``pre > 0``, else ``LEAKY_SLOPE``, as autograd)."""
    return grad if nonlinearity == "linear" else torch.where(pre > 0, grad, grad * LEAKY_SLOPE)


def route_weights(mask: torch.Tensor, dtype) -> torch.Tensor:
    """Weight of each route in its replica's masked loss: ``mask / (number of trained routes)``, ``(R, M, M)``."""
    m = mask.to(dtype)
    return m / m.sum((1, 2), keepdim=True)


def losses_and_output_gradient(out: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                               loss: str, *, class_major: bool = False,
                               overwrite: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-route losses ``(R, M_in, M_out)`` (as :func:`route_losses`) and ``dL/dout`` of
    ``L_r = sum_ij weights[r,i,j] * loss_ij``, in ``out``'s layout.

    ``out (R, M_in, B, M_out, C)`` (contiguous, as :func:`route_outputs` stores it) with ``targets (M_out, B)``
    or ``(R, M_in, B, M_out)`` (one class per example and route); with ``class_major``, ``out
    (R, M_in, M_out, C, B)`` and ``targets (R, M_in, M_out, B)`` (as :func:`trained_route_step` computes
    them: the reductions over the C = 10 classes then run along rows of B contiguous numbers).
    CE: ``(softmax(out) - onehot(y)) w / B``; MSE: ``(out - onehot(y)) w / B``. Untrained routes
    (``w = 0``) get exactly zero. The softmax is written out (torch's kernel is slow for C = 10).
    ``overwrite``: the gradient is written over ``out`` (no new memory for it).
    """
    if class_major:
        R, M, N, C, B = out.shape
        scale, c, t = (weights / B).view(R, M, N, 1, 1), -2, targets
    else:
        R, M, B, N, C = out.shape
        scale, c = (weights / B).view(R, M, 1, N, 1), -1
        t = (targets.T if targets.ndim == 2 else targets).expand(R, M, B, N)
    b = -1 if class_major else -2  # the batch dimension once the class dimension is gone
    if loss == "ce":
        idx = t.unsqueeze(c)  # the target class of each example and route
        top = out.amax(c, keepdim=True)
        picked = out.gather(c, idx)
        res = (out.sub_(top) if overwrite else out - top).exp_()
        tot = res.sum(c, keepdim=True)
        per_route = (tot.log() + top - picked).squeeze(c).mean(b)
        res.mul_(scale / tot).scatter_add_(c, idx, (-scale).expand_as(idx))  # (softmax - y) w / B
        return per_route, res
    if loss == "mse":
        y = F.one_hot(t, C).to(out.dtype).movedim(-1, c)
        res = out.sub_(y) if overwrite else out - y
        return 0.5 * (res ** 2).sum(c).mean(b), res.mul_(scale)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def masked_step_gradients(net: RouteNet, xb: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                          loss: str = "ce", *, enc_acc: torch.Tensor | None = None,
                          enc_beta: float = 0.0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Masked loss ``(R,)`` and its gradients ``[enc, hid, dec]``, by hand (no autograd graph).

    The forward pass computes every route (as :func:`route_outputs`); the backward pass is the chain
    rule of ``masked_loss(route_losses(route_outputs(net, xb)), mask).sum()``, so the result equals
    autograd's to round-off. The encoder gradient, the largest tensor (``R x M x N_h x d``), is written
    by one batched GEMM; with ``enc_acc`` it is accumulated in place, ``enc_acc = enc_beta * enc_acc
    + grad`` (the momentum buffer: no separate gradient tensor), and ``enc_acc`` is returned as it.
    """
    R, M, Nh = net.replicas, net.M, net.hid.shape[-1]
    B, d, C = xb.shape[1], xb.shape[2], net.dec.shape[2]
    nl, xb = net.nonlinearity, xb.contiguous()
    a1 = torch.matmul(xb, net.enc.transpose(-1, -2))  # (R, M, B, N_h)
    h = _act(a1, nl).reshape(R, M * B, Nh)
    a2 = torch.matmul(h, net.hid.transpose(-1, -2))  # (R, M*B, N_h)
    z = _act(a2, nl)
    dec = net.dec.reshape(R, M * C, Nh)
    out = torch.matmul(z, dec.transpose(-1, -2)).view(R, M, B, M, C)  # every route
    w = route_weights(mask, out.dtype)
    per_route, g_out = losses_and_output_gradient(out, targets, w, loss)
    L = (per_route * w).sum((1, 2))  # = masked_loss(per_route, mask)
    g_out = g_out.view(R, M * B, M * C)
    g_dec = torch.matmul(g_out.transpose(-1, -2), z).view_as(net.dec)
    g_a2 = _act_backward(a2, torch.matmul(g_out, dec), nl)
    g_hid = torch.matmul(g_a2.transpose(-1, -2), h)
    g_a1 = _act_backward(a1, torch.matmul(g_a2, net.hid).view(R, M, B, Nh), nl)
    lhs = g_a1.reshape(R * M, B, Nh).transpose(-1, -2)  # (R*M, N_h, B)
    rhs = xb.expand(R, M, B, d).reshape(R * M, B, d)
    if enc_acc is None:
        g_enc = torch.bmm(lhs, rhs).view_as(net.enc)
    else:
        enc_acc.view(R * M, Nh, d).baddbmm_(lhs, rhs, beta=enc_beta)
        g_enc = enc_acc
    return L, [g_enc, g_hid, g_dec]


def sgd_step(net: RouteNet, xb: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, bufs: list[torch.Tensor],
             lr: torch.Tensor, *, loss: str = "ce", momentum: float = 0.9) -> torch.Tensor:
    """One step of SGD with heavy-ball momentum (as ``torch.optim.SGD``) on the masked loss; returns it, ``(R,)``.

    ``bufs`` are the momentum buffers ``[enc, hid, dec]`` (zeros before the first step, so that
    ``b = momentum * b + g`` starts at ``b = g``); ``lr (R,)`` one step size per replica. Updates
    ``net`` and ``bufs`` in place: ``b <- momentum b + g``, ``p <- p - lr b``.
    """
    with torch.no_grad():
        L, grads = masked_step_gradients(net, xb, targets, mask, loss, enc_acc=bufs[0], enc_beta=momentum)
        for p, b, g in zip(net.parameters(), bufs, grads):
            if g is not b:
                b.mul_(momentum).add_(g)
            p.addcmul_(lr.view(-1, *([1] * (p.ndim - 1))), b, value=-1)  # p - lr b, no temporary
    return L


@dataclass
class RoutePlan:
    """The trained routes of every replica, grouped for the decoders' batched products (App. D.2).

    The gate of an example switches on one input and one output domain and the loss is masked to the
    trained routes, so during training an untrained route's output is never needed. Replicas are
    grouped by ``k``, the largest number of trained outputs of any of their input domains (``K`` for
    the K-regular masks of :func:`gdln.tasks.routing.trained_routes`); within a group, input ``i`` of
    replica ``r`` is routed to the outputs ``J[r, i, :k]`` with weights ``w[r, i, :k]`` (``1 /`` the
    replica's number of trained routes; ``0`` on the padding of an input with fewer than ``k``).
    ``rows`` is a ``slice`` when the group's replicas are contiguous (no copy), else an index tensor.
    """

    groups: list[tuple[slice | torch.Tensor, torch.Tensor, torch.Tensor]]
    replicas: int
    M: int


def route_plan(mask: torch.Tensor, dtype=torch.float32) -> RoutePlan:
    """The :class:`RoutePlan` of ``mask (R, M, M)`` (``[r, i, j]``: route ``i -> j`` of replica ``r`` trained)."""
    if mask.ndim != 3 or mask.shape[1] != mask.shape[2]:
        raise ValueError(f"mask must be (R, M, M), got shape {tuple(mask.shape)}")
    R, M, dev = mask.shape[0], mask.shape[1], mask.device
    m = mask.to(torch.bool)
    rows = m.sum(-1)  # (R, M) trained outputs of each input domain
    total = rows.sum(-1)
    if (total == 0).any():
        raise ValueError("every replica needs at least one trained route (K >= 1)")
    k_of, w_of = rows.amax(-1), 1.0 / total.to(torch.float64)
    # each input's trained outputs first (increasing j), then the others (padding, weight 0)
    order = torch.argsort((~m).to(torch.int64) * M + torch.arange(M, device=dev), dim=-1)
    groups = []
    for k in sorted(set(k_of.tolist())):
        idx = torch.nonzero(k_of == k).flatten()
        live = torch.arange(k, device=dev) < rows[idx].unsqueeze(-1)
        w = (live.to(torch.float64) * w_of[idx].view(-1, 1, 1)).to(dtype)
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        groups.append((slice(lo, hi) if hi - lo == idx.numel() else idx, order[idx, :, :k].contiguous(), w))
    return RoutePlan(groups, R, M)


@dataclass
class TrainLayout:
    """A :class:`RouteNet`'s weights as :func:`trained_route_step` holds them, with momentum buffers.

    Permuted-pixel domains (``perms`` given): ``enc (R, M, N_h, d)`` in the *unpermuted* pixel basis,
    ``W1'[i] = W1[i] P_i`` (``W1'[i][:, perms[i]] = W1[i]``), so that every encoder of every replica reads
    the same batch ``x (B, d)``: the encoders' forward pass and gradient are then one batched product
    each, with no per-domain copy of the batch. The change of basis is exact (a gather) and commutes
    with momentum SGD, whose updates are elementwise. Other domains (rotations, features) keep ``enc``
    as it is.

    ``work`` holds the step's activations and gradients between steps (:meth:`scratch`): a fresh
    55 MB tensor is new memory to the operating system each time, and at M = 40 its page faults took
    13% of the step.
    """

    enc: torch.Tensor
    hid: torch.Tensor
    dec: torch.Tensor
    bufs: list[torch.Tensor]
    nonlinearity: str
    perms: torch.Tensor | None
    work: dict = field(default_factory=dict, repr=False)

    def scratch(self, key, *shape: int) -> torch.Tensor:
        """The step's buffer ``key`` of ``shape`` (uninitialised; the same memory at every step)."""
        buf = self.work.get(key)
        if buf is None or buf.shape != shape:
            buf = self.work[key] = torch.empty(shape, dtype=self.enc.dtype, device=self.enc.device)
        return buf

    @classmethod
    def of(cls, net: RouteNet, perms: torch.Tensor | None) -> "TrainLayout":
        enc = net.enc.clone() if perms is None else _permute_columns(net.enc, torch.argsort(perms, dim=-1))
        hid, dec = net.hid.clone(), net.dec.clone()
        return cls(enc, hid, dec, [torch.zeros_like(p) for p in (enc, hid, dec)], net.nonlinearity, perms)

    def write_back(self, net: RouteNet) -> None:
        """Copy the weights into ``net`` in its own basis (exact)."""
        net.enc.copy_(self.enc if self.perms is None else _permute_columns(self.enc, self.perms))
        net.hid.copy_(self.hid)
        net.dec.copy_(self.dec)


def _permute_columns(enc: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """``out[r, i][:, q] = enc[r, i][:, perms[i, q]]`` for encoders ``(R, M, N_h, d)``."""
    R, M, Nh, d = enc.shape
    return torch.gather(enc, 3, perms.to(enc.device).view(1, M, 1, d).expand(R, M, Nh, d))


def trained_route_step(st: TrainLayout, x: torch.Tensor, targets: torch.Tensor, plan: RoutePlan,
                       lr: torch.Tensor | None, *, loss: str = "ce", momentum: float = 0.9) -> torch.Tensor:
    """The masked loss ``(R,)`` over the trained routes (before the update) and, with ``lr``, one momentum-SGD step.

    The same step as :func:`sgd_step` (``b <- momentum b + g``, ``p <- p - lr b``), computing only what
    the gate trains: each input domain's hidden code meets only the decoders of its trained routes, in
    one batched product per group of replicas (:class:`RoutePlan`). ``x`` is ``(B, d)`` for permuted
    domains (``st.perms``: every encoder reads it), else ``(M, B, d)``; ``targets (M_out, B)``. The loss
    equals :func:`masked_loss` of every route's output, and the step :func:`sgd_step`'s, to round-off
    (tested). ``lr=None`` only evaluates the loss.
    """
    R, M, Nh, d = st.enc.shape
    C, B, nl = st.dec.shape[2], x.shape[-2], st.nonlinearity
    shared = st.perms is not None
    a1 = st.scratch("a1", R, M, B, Nh)
    if shared:  # (R*M) encoders against one batch: a batched product with the batch broadcast (no copy)
        torch.bmm(x.expand(R * M, B, d), st.enc.view(R * M, Nh, d).transpose(1, 2), out=a1.view(R * M, B, Nh))
    else:  # each replica's M encoders against the M domains' batches
        for r in range(R):
            torch.bmm(x, st.enc[r].transpose(1, 2), out=a1[r])
    h = _act(a1, nl).view(R, M * B, Nh)
    a2 = torch.bmm(h, st.hid.transpose(1, 2), out=st.scratch("a2", R, M * B, Nh))
    z = _act(a2, nl)
    step = lr is not None
    L = torch.zeros(R, dtype=z.dtype, device=z.device)
    g_z = st.scratch("g_z", R, M * B, Nh) if step else None
    g_dec = st.scratch("g_dec", *st.dec.shape).zero_() if step else None
    reps = torch.arange(R, device=z.device)
    dec_rows = st.dec.view(R * M, C * Nh)
    for n, (sel, J, w) in enumerate(plan.groups):
        Rg, k = J.shape[0], J.shape[2]
        zg = z[sel].reshape(Rg * M, B, Nh)
        rows = (reps[sel].view(Rg, 1, 1) * M + J).view(-1)  # the trained decoders, as rows of dec (R*M_out)
        dsel = torch.index_select(dec_rows, 0, rows, out=st.scratch(("dsel", n), Rg * M * k, C * Nh))
        dsel = dsel.view(Rg * M, k * C, Nh)
        # class-major outputs (R_g, M_in, k, C, B): the softmax reduces across rows of B numbers
        out = torch.bmm(dsel, zg.transpose(1, 2), out=st.scratch(("out", n), Rg * M, k * C, B))
        per_route, g_out = losses_and_output_gradient(out.view(Rg, M, k, C, B), targets[J], w, loss,
                                                      class_major=True, overwrite=True)
        L[sel] = (per_route * w).sum((1, 2))
        if step:
            g_out = g_out.view(Rg * M, k * C, B)
            if isinstance(sel, slice):
                torch.bmm(g_out.transpose(1, 2), dsel, out=g_z[sel].view(Rg * M, B, Nh))
            else:
                g_z[sel] = torch.bmm(g_out.transpose(1, 2), dsel).view(Rg, M * B, Nh)
            g_rows = torch.bmm(g_out, zg, out=st.scratch(("g_dec", n), Rg * M, k * C, Nh))
            g_dec.view(R * M, C * Nh).index_add_(0, rows, g_rows.view(-1, C * Nh))
    if not step:
        return L
    g_a2 = _act_backward(a2, g_z, nl)
    g_hid = torch.bmm(g_a2.transpose(1, 2), h)
    g_h = st.scratch("g_h", R, M * B, Nh)
    for r in range(R):  # one product per replica: as one batched product it ran at 2/3 of this speed (M = 40)
        torch.mm(g_a2[r], st.hid[r], out=g_h[r])
    g_a1 = _act_backward(a1, g_h.view(R, M, B, Nh), nl)
    b_enc, b_hid, b_dec = st.bufs
    for r, lr_r in enumerate(lr.tolist()):  # each replica's encoders updated while their buffer is in cache
        b_enc[r].baddbmm_(g_a1[r].transpose(1, 2), x.expand(M, B, d) if shared else x, beta=momentum)
        st.enc[r].add_(b_enc[r], alpha=-lr_r)
    b_hid.mul_(momentum).add_(g_hid)
    b_dec.mul_(momentum).add_(g_dec)
    st.hid.addcmul_(lr.view(R, 1, 1), b_hid, value=-1)
    st.dec.addcmul_(lr.view(R, 1, 1, 1), b_dec, value=-1)
    return L


@dataclass
class History:
    """Training record: steps, training time ``t = steps * lr`` (units of tau), masked loss per replica."""

    step: list[int] = field(default_factory=list)
    loss: list[torch.Tensor] = field(default_factory=list)
    lr: float = 0.0
    wall_s: float = float("nan")  # seconds the training loop took (not stored with a sweep's arrays)

    @property
    def t(self) -> torch.Tensor:
        return torch.tensor(self.step, dtype=torch.float64) * self.lr

    def losses(self) -> torch.Tensor:
        """``(n_records, R)``."""
        return torch.stack(self.loss) if self.loss else torch.empty(0)


def step_flops(replicas: int, M: int, routes: int, *, batch: int, d: int, n_h: int, n_out: int = 10) -> float:
    """Floating-point operations of one training step, matrix products only (the rest is a few percent).

    Encoders ``4 R M N_h d B`` (forward, weight gradient), shared layer ``6 R M N_h^2 B`` (forward,
    both gradients), decoders ``6 N_h C B`` per computed route (forward, both gradients): ``routes`` is
    the number of trained routes for ``engine="trained"``, ``R M^2`` for ``engine="all"``.
    """
    return float(4 * replicas * M * n_h * d * batch + 6 * replicas * M * n_h * n_h * batch
                 + 6 * n_h * n_out * batch * routes)


#: Training engines: ``"trained"`` computes only the trained routes (:func:`trained_route_step`, the
#: default); ``"all"`` computes every route and masks the loss (:func:`sgd_step`, the reference).
ENGINES = ("trained", "all")


def train(net: RouteNet, inputs: Domains, labels: torch.Tensor, label_perms: torch.Tensor, mask: torch.Tensor,
          *, steps: int, lr, loss: str = "ce", momentum: float = 0.9, batch_size: int | None = 8,
          seed: int = 0, record_every: int = 50, progress: bool = True, desc: str = "training",
          engine: str = "trained") -> History:
    """Train all replicas in place on their trained routes.

    ``mask (R, M, M)`` (or ``(M, M)``, shared) selects the trained routes of each replica.
    ``lr`` is a number or one per replica. ``batch_size=None`` is full-batch gradient descent. Each replica's loss is the mean over its
    trained routes and the batch; replicas are summed, so each gets exactly its own gradient and SGD
    (elementwise) updates them independently. Minibatches are shuffled epochs drawn with ``seed``,
    shared by all replicas and all routes. ``engine`` (:data:`ENGINES`) chooses the step; both give the
    same training to float round-off.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if inputs.M != net.M or label_perms.shape[0] != net.M:
        raise ValueError(f"inputs have {inputs.M} domains and label_perms {label_perms.shape[0]}; the net has M={net.M}")
    mask = mask.expand(net.replicas, net.M, net.M).to(net.enc.device)
    if (mask.sum((1, 2)) == 0).any():
        raise ValueError("every replica needs at least one trained route (K >= 1)")
    if batch_size is not None and not 0 < batch_size <= inputs.n:
        raise ValueError(f"batch_size must be in 1..{inputs.n} or None (full batch), got {batch_size!r}")
    lr_r = torch.as_tensor(lr, dtype=net.enc.dtype, device=net.enc.device).reshape(-1)
    if lr_r.numel() not in (1, net.replicas) or (lr_r <= 0).any() or not torch.isfinite(lr_r).all():
        raise ValueError(f"lr must be a positive finite number or one per replica ({net.replicas}), got {lr!r}")
    if not (isinstance(momentum, (int, float)) and math.isfinite(momentum) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    lr_r = lr_r.expand(net.replicas).contiguous()
    g = torch.Generator().manual_seed(seed)
    n, dev = inputs.n, net.enc.device
    order, pos = torch.randperm(n, generator=g), 0
    hist = History(lr=float(lr_r.max()))
    full = batch_size is None
    shared = engine == "trained" and inputs.perms is not None

    def batch(idx):  # the inputs the step reads: one batch for permuted domains (shared basis), else per domain
        idx = idx.to(inputs.base.device)
        return (inputs.base[idx] if shared else inputs.batch(idx)).to(dev)

    xb_full = batch(torch.arange(n)) if full else None
    t_full = route_targets(labels, label_perms).to(dev) if full else None
    if engine == "trained":
        st = TrainLayout.of(net, inputs.perms if shared else None)
        plan = route_plan(mask, net.enc.dtype)
    else:
        bufs = [torch.zeros_like(p) for p in net.parameters()]
    started = time.perf_counter()
    with torch.no_grad():
        for step in tqdm(range(steps + 1), desc=desc, disable=not progress, leave=False):
            if full:
                xb, tb = xb_full, t_full
            else:
                if pos + batch_size > n:
                    order, pos = torch.randperm(n, generator=g), 0
                idx = order[pos:pos + batch_size]
                pos += batch_size
                xb, tb = batch(idx), route_targets(labels[idx], label_perms).to(dev)
            last = step == steps  # the loss after the last update; otherwise the loss before this step's update
            if engine == "trained":
                L = trained_route_step(st, xb, tb, plan, None if last else lr_r, loss=loss, momentum=momentum)
            elif last:
                L = masked_loss(route_losses(route_outputs(net, xb), tb, loss), mask)
            else:
                L = sgd_step(net, xb, tb, mask, bufs, lr_r, loss=loss, momentum=momentum)
            if step % record_every == 0 or last:
                hist.step.append(step)
                hist.loss.append(L.detach().cpu())
        if engine == "trained":
            st.write_back(net)
    hist.wall_s = time.perf_counter() - started
    return hist


@torch.no_grad()
def route_accuracy(net: RouteNet, inputs: Domains, labels: torch.Tensor, label_perms: torch.Tensor,
                   *, chunk: int = 250) -> torch.Tensor:
    """Accuracy of every route of every replica on ``inputs`` (held-out images): ``(R, M, M)``."""
    dev = net.enc.device
    correct = torch.zeros(net.replicas, net.M, net.M, device=dev)
    for s in range(0, inputs.n, chunk):
        idx = torch.arange(s, min(s + chunk, inputs.n), device=inputs.base.device)
        pred = route_outputs(net, inputs.batch(idx).to(dev)).argmax(-1)  # (R, M, M, B)
        correct += (pred == route_targets(labels[idx.cpu()], label_perms).to(dev)).sum(-1)
    return (correct / inputs.n).cpu()


def split_accuracy(acc: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean accuracy over trained and over untrained routes of each replica: two ``(R,)`` tensors.

    Untrained is NaN for a replica with every route trained (K = M).
    """
    m = mask.expand_as(acc).to(acc.dtype)
    tr = (acc * m).sum((1, 2)) / m.sum((1, 2))
    nu = (1 - m).sum((1, 2))
    un = torch.where(nu > 0, (acc * (1 - m)).sum((1, 2)) / nu.clamp(min=1), torch.full_like(tr, float("nan")))
    return tr, un


def transfer_threshold(k_frac, trained, untrained, margin: float = 0.05) -> float:
    """Smallest ``K/M`` with ``untrained >= trained - margin`` (mean accuracies); NaN if none.

    ``k_frac`` increasing; ``trained`` and ``untrained`` aligned with it (NaN untrained entries, K = M,
    are skipped).
    """
    for k, tr, un in zip(map(float, k_frac), map(float, trained), map(float, untrained)):
        if not math.isnan(un) and un >= tr - margin:
            return k
    return float("nan")


def plateau_exit(history: History, fraction: float = 0.5) -> torch.Tensor:
    """The first recorded step at which each replica's loss is at most ``fraction`` of its initial loss, ``(R,)``.

    From small weights the loss sits on a plateau and then drops (Saxe et al. 2014); this is the step
    of the drop, read on the record grid (``record_every``), NaN for a replica that never got there.
    """
    L = history.losses()  # (records, R)
    if L.numel() == 0:
        raise ValueError("the history holds no recorded losses")
    below = L <= fraction * L[0]
    steps = torch.tensor(history.step, dtype=torch.float64)
    first = steps[below.to(torch.int8).argmax(0)]
    return torch.where(below.any(0), first, torch.full_like(first, float("nan")))


def mean_se(x: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error of the mean over ``dim`` (seeds)."""
    n = x.shape[dim]
    return x.mean(dim), (x.std(dim) / math.sqrt(n) if n > 1 else torch.zeros_like(x.mean(dim)))


@dataclass
class SweepResult:
    """Accuracies of a sweep: ``trained``/``untrained`` ``(n_points, n_seeds)``; ``acc (P, S, M, M)``."""

    points: list
    seeds: list[int]
    trained: torch.Tensor
    untrained: torch.Tensor
    acc: torch.Tensor
    masks: torch.Tensor
    history: History
    net: RouteNet | None = None  # the trained replicas, in (point, seed) order


def run_sweep(train_in: Domains, y_train: torch.Tensor, test_in: Domains, y_test: torch.Tensor,
              label_perms: torch.Tensor, *, Ks, gains, seeds, n_h: int, nonlinearity: str = "linear",
              device="cpu", desc: str = "sweep", **train_kw) -> SweepResult:
    """Train one replica per (sweep point, seed) in a single batched model and evaluate every route.

    ``Ks`` and ``gains`` are broadcast against each other (one of them may be a single value): the
    sweep points are ``zip(Ks, gains)``. Replica ``(p, s)`` uses init seed and route-mask seed
    ``seeds[s]`` (masks by :func:`gdln.tasks.routing.trained_routes`).
    """

    Ks, gains, seeds = list(Ks), list(gains), list(seeds)
    P = max(len(Ks), len(gains))
    Ks = Ks * P if len(Ks) == 1 else Ks
    gains = gains * P if len(gains) == 1 else gains
    if len(Ks) != P or len(gains) != P:
        raise ValueError(f"Ks ({len(Ks)}) and gains ({len(gains)}) must have equal lengths or length 1")
    M, S = train_in.M, len(seeds)
    masks = torch.stack([trained_routes(M, int(k), seed=s) for k in Ks for s in seeds])  # (P*S, M, M)
    # each replica's initial weights depend only on its seed (and gain), not on the rest of the sweep:
    # the same seed gives the same (gain-scaled) initial weights at every K (common random numbers)
    nets = [init_routenet(M, train_in.d, n_h, int(label_perms.shape[1]), [float(gn)],
                          generator=torch.Generator().manual_seed(int(s)), nonlinearity=nonlinearity,
                          dtype=train_in.base.dtype, device=device) for gn in gains for s in seeds]
    net = RouteNet(*(torch.cat([getattr(n, k) for n in nets]) for k in ("enc", "hid", "dec")),
                   nonlinearity=nonlinearity)
    if "lr" in train_kw and not isinstance(train_kw["lr"], (int, float)):  # one lr per sweep point
        train_kw["lr"] = torch.tensor([float(v) for v in train_kw["lr"] for _ in seeds])
    if torch.device(device).type != "cpu":  # keep the inputs on the accelerator
        train_in, test_in = train_in.to(device), test_in.to(device)
    hist = train(net, train_in, y_train, label_perms, masks, desc=desc, **train_kw)
    acc = route_accuracy(net, test_in, y_test, label_perms)
    tr, un = split_accuracy(acc, masks)
    return SweepResult(points=list(zip(Ks, gains)), seeds=seeds, trained=tr.view(P, S), untrained=un.view(P, S),
                       acc=acc.view(P, S, M, M), masks=masks.view(P, S, M, M), history=hist, net=net)
