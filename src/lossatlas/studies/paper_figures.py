"""The demo's measured numbers beside the optimizer-strategies paper's, for its FCP.

The paper (Table 1, Table S1, Figs. 5 and 6) reports, over 48 solutions per set
trained on 60,000 MNIST images: the mean training loss of each optimizer's final
weights and the mean test loss of its early-stopped weights (Table 1); the mean
and standard deviation of the components of each set's weights (Table S1); the
distances of SGD's early-stopped and L-BFGS-GSS's final weights to the common
origin ½(c_SGD + c_BFGS) (Fig. 5, a histogram: L-BFGS-GSS's lie farther out); and
their separation along the first component of RBF kernel PCA, not of linear PCA
(Fig. 6, a scatter plot). `compare` measures the same quantities on the demo's
sets and sets the paper's values beside them (its FCP row; None where the paper
gives a figure rather than a number).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lossatlas.geometry import solution_sets as sets
from lossatlas.studies import topography_stacks

# The paper's FCP (784→50→50→10, 42,200 parameters): Table 1 and Table S1.
PAPER_FCP = {
    ("Table 1", "mean training loss, final weights"): (6.21e-04, 1.26e-08),
    ("Table 1", "mean test loss, early-stopped weights"): (8.25e-02, 9.69e-02),
    ("Table S1", "weight mean, final weights"): (-1.44e-03, -2.47e-03),
    ("Table S1", "weight s.d., final weights"): (1.39e-01, 2.34e-01),
    ("Table S1", "weight mean, early-stopped weights"): (-3.17e-03, -4.11e-03),
    ("Table S1", "weight s.d., early-stopped weights"): (1.03e-01, 1.22e-01),
}


def compare(
    train, test, solutions: dict[str, dict[str, list[torch.Tensor]]], *, paper: bool, seed: int = 0
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (figure, quantity, SGD, L-BFGS-GSS, paper's SGD, paper's L-BFGS-GSS) and key numbers.

    Args:
        train, test: the FCP's training and test objectives.
        solutions: {"sgd" | "lbfgs-gss": {"final": [θ...], "early_stopped": [θ...]}}.
        paper: set the paper's values beside (only where the data is MNIST).
    """
    opts = ("sgd", "lbfgs-gss")
    stack = {
        o: {w: torch.stack(solutions[o][w]).double().cpu().numpy() for w in solutions[o]}
        for o in opts
    }
    measured: dict[tuple[str, str], tuple[float, float]] = {}
    measured[("Table 1", "mean training loss, final weights")] = tuple(
        float(np.mean([train.value(t).item() for t in solutions[o]["final"]])) for o in opts
    )
    measured[("Table 1", "mean test loss, early-stopped weights")] = tuple(
        float(np.mean([test.value(t).item() for t in solutions[o]["early_stopped"]])) for o in opts
    )
    for w, text in (("final", "final weights"), ("early_stopped", "early-stopped weights")):
        stats = [sets.component_stats(stack[o][w]) for o in opts]
        measured[("Table S1", f"weight mean, {text}")] = (stats[0][0], stats[1][0])
        measured[("Table S1", f"weight s.d., {text}")] = (stats[0][1], stats[1][1])
    # Figs. 5 and 6 compare SGD's early-stopped weights with L-BFGS-GSS's final ones; for two
    # sets the given-sets analysis's common origin is the paper's ½(c_SGD + c_BFGS)
    pair = {"sgd": stack["sgd"]["early_stopped"], "lbfgs-gss": stack["lbfgs-gss"]["final"]}
    geometry, numbers = topography_stacks.geometry(pair, None, seed)
    groups = geometry["point_set"].to_numpy()
    measured[("Fig. 5", "mean distance to ½(c_SGD + c_BFGS)")] = tuple(
        float(geometry["distance_to_origin"].to_numpy()[groups == o].mean()) for o in opts
    )
    rows = [
        {
            "figure": fig,
            "quantity": what,
            "SGD": sgd,
            "L-BFGS-GSS": lbfgs,
            "paper SGD": PAPER_FCP.get((fig, what), (None, None))[0] if paper else None,
            "paper L-BFGS-GSS": PAPER_FCP.get((fig, what), (None, None))[1] if paper else None,
        }
        for (fig, what), (sgd, lbfgs) in measured.items()
    ]
    results = {
        "Fig. 6: separation along kernel PCA component 1": numbers[
            "kpca_separation sgd vs lbfgs-gss"
        ],
        "Fig. 6: separation along linear PCA component 1": numbers[
            "pca_separation sgd vs lbfgs-gss"
        ],
        "Fig. 6: kernel γ": numbers["kpca_gamma"],
    }
    for row in rows:
        if row["figure"] == "Table 1":
            for o in ("SGD", "L-BFGS-GSS"):
                key = f"{row['figure']}: {row['quantity']}, {o}"
                results[key] = row[o]
                if paper:
                    results[f"{key} (paper)"] = row[f"paper {o}"]
    return rows, results
