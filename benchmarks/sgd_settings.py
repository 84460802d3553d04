"""How the studies' and the demo's SGD settings were chosen: a sweep that counts stable runs.

A run is stable (`lossatlas.optim.train.stable`) when, after its first quarter,
no recorded training loss is above 2× the best so far and its final loss is
within 1.5× its best; diverged (`TrainResult.diverged`) when the final loss is
not finite or above 10× its best. The optimizer-strategies paper trains SGD on
mini-batches of 64; this sweep keeps the batch and varies the learning rate and
the epochs, on the model and data given, over several initialisations.

    .venv/bin/python benchmarks/sgd_settings.py --model fcp --data digits \
        --lr 0.1 0.05 0.03 0.02 --epochs 60 --seeds 8
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from lossatlas import zoo
from lossatlas.optim import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fcp")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--lr", type=float, nargs="+", default=[0.1, 0.05, 0.03, 0.02])
    parser.add_argument("--epochs", type=int, nargs="+", default=[60])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--activation", default=None, help="the zoo model's activation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = zoo.dataset(args.data)
    print(
        f"{args.model} on {args.data}, batch {args.batch_size}, {args.seeds} seeds, "
        f"{args.schedule} schedule, momentum {args.momentum}"
    )
    print("lr       epochs  stable  diverged  final train loss (min–max)   best   s/run")
    for epochs in args.epochs:
        for lr in args.lr:
            finals, bests, stable, gone, start = [], [], 0, 0, time.perf_counter()
            for seed in range(args.seeds):
                extra = {"activation": args.activation} if args.activation else {}
                net = zoo.build_for(args.model, split, seed=seed, **extra)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = train(net, split, optimizer="sgd", lr=lr, epochs=epochs,
                              batch_size=args.batch_size, seed=seed, progress=False,
                              schedule=args.schedule, momentum=args.momentum)  # fmt: skip
                finals.append(r.final_loss)
                bests.append(r.outcome()["best_train_loss"])
                stable += r.stable
                gone += r.diverged
            per = (time.perf_counter() - start) / args.seeds
            print(
                f"{lr:<8g} {epochs:<7d} {stable:>3}/{args.seeds:<3d} {gone:>3}/{args.seeds:<5d} "
                f"{min(finals):.3g}–{max(finals):.3g}{'':14s} {min(bests):.3g}  {per:.1f}"
            )


if __name__ == "__main__":
    main()
