"""Per-step overhead of metanas's training loop against a bare hand-written PyTorch loop.

Both train the same macro CNN on the same in-memory tensors (random 28x28 images, batch 128,
Adam); repeats are interleaved (bare, metanas, bare, metanas, ...) so background load hits both
alike, and the ratio of median seconds per step is reported. Target: ratio <= 1.05.

    python benchmarks/bench_trainer_overhead.py [--repeats 7] [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from metanas.evaluation.training import fit
from metanas.nn import build_model

ARCH = {
    "depth": 3,
    "unit_1": "conv3x3", "width_1": 32, "skip_1": False,
    "unit_2": "conv3x3", "width_2": 64, "skip_2": False,
    "unit_3": "sepconv3x3", "width_3": 64, "skip_3": True,
}  # fmt: skip


def bare_loop(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    bs: int,
    gen: torch.Generator,
) -> None:
    """What one writes by hand: shuffle indices, slice, forward, backward, step (+ cosine)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    perm = torch.randperm(x.shape[0], generator=gen)
    for i in range(steps):
        idx = perm[i * bs : (i + 1) * bs]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        sched.step()


def metanas_loop(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    bs: int,
    gen: torch.Generator,
) -> None:
    fit(model, x, y, epochs=1, batch_size=bs, optimizer="adam", lr=1e-3, cosine=True, n_classes=10,
        generator=gen, deadline=time.perf_counter() + 3600)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bs, steps = args.batch_size, args.steps
    g = torch.Generator().manual_seed(0)
    x = torch.rand(bs * steps, 1, 28, 28, generator=g)  # exactly `steps` steps per epoch
    y = torch.randint(0, 10, (bs * steps,), generator=g)
    torch.manual_seed(0)
    model0 = build_model("macro", ARCH, (1, 28, 28), 10)
    state = {k: v.clone() for k, v in model0.state_dict().items()}
    times: dict[str, list[float]] = {"bare": [], "metanas": []}
    loops = {"bare": bare_loop, "metanas": metanas_loop}
    for r in range(args.repeats + 1):  # the first round warms up both and is discarded
        for name in ("bare", "metanas") if r % 2 == 0 else ("metanas", "bare"):
            model0.load_state_dict(state)
            t = time.perf_counter()
            loops[name](model0, x, y, steps, bs, torch.Generator().manual_seed(r))
            if r > 0:
                times[name].append((time.perf_counter() - t) / steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [m / b for m, b in zip(times["metanas"], times["bare"])]
    print(
        f"threads {torch.get_num_threads()}, batch {bs}, {steps} steps x {args.repeats} interleaved repeats"
    )
    print(f"bare loop     median {med['bare'] * 1e3:8.2f} ms/step")
    print(f"metanas fit   median {med['metanas'] * 1e3:8.2f} ms/step")
    print(f"ratio of medians {med['metanas'] / med['bare']:.3f}; per-repeat ratios "
          f"median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
