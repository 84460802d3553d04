"""Losses at many points: Objective.values (loop, vmap) against the per-point pattern.

The per-point pattern is what the peer tools do for every grid point: write the
point into the module's parameters and run a forward pass over the data. All
three run here, in one process, on the same points; the script prints seconds
and ratios.

    .venv/bin/python benchmarks/objective_values.py [--device cuda] [--points 256]
"""

from __future__ import annotations

import argparse
import time

import torch

from lossatlas import Objective, zoo


def per_point(model, x, y, points, space):
    """The peers' pattern: copy each point into the module, forward, loss."""
    out = []
    with torch.no_grad():
        for p in points:
            space.assign(model, p)
            out.append(torch.nn.functional.cross_entropy(model(x), y))
    return torch.stack(out)


def timed(fn, repeats=3):
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--models", default="fcp,lenet")
    args = parser.parse_args()
    split = zoo.dataset("digits")
    x, y = (t.to(args.device) for t in split.train)
    print(f"device {args.device}, {args.points} points, digits train ({len(x)} samples)")
    for name in args.models.split(","):
        model = zoo.build_for(name, split, seed=0).to(args.device).eval()
        for chunk in (16, 64):
            obj = Objective(model, (x, y), points_chunk=chunk)
            g = torch.Generator(device=args.device).manual_seed(0)
            points = obj.point() + 0.1 * torch.randn(
                args.points, obj.size, generator=g, device=args.device
            )
            t_peer, ref = timed(lambda m=model, p=points, o=obj: per_point(m, x, y, p, o.space))
            t_loop, a = timed(lambda p=points, o=obj: o.values(p, strategy="loop"))
            t_vmap, b = timed(lambda p=points, o=obj: o.values(p, strategy="vmap"))
            assert torch.allclose(a, ref, rtol=1e-4) and torch.allclose(b, ref, rtol=1e-4)
            print(
                f"{name:6s} chunk {chunk:3d}: per-point {t_peer:.3f}s  loop {t_loop:.3f}s  "
                f"vmap {t_vmap:.3f}s  | peer/loop {t_peer / t_loop:.2f}x  "
                f"peer/vmap {t_peer / t_vmap:.2f}x  loop/vmap {t_loop / t_vmap:.2f}x"
            )


if __name__ == "__main__":
    main()
