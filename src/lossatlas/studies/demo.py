"""The main job (`lossatlas demo`): solutions, surfaces, spectra, paths and solution maps.

On the embedded digits data (zoo.dataset("digits"), 8×8 images; or with
`data="mnist-5k"` on 5,000 real MNIST images at the paper's model shapes), in
numbered steps, each in its own folder of `out` with its manifest:

 1. the zoo FCP trained with SGD from `seeds` initialisations,
 2. and with L-BFGS-GSS from as many initialisations of its own (seeds
    1000 + i; optimizer-strategies paper, §II.1–2 and §III);
 3. the zoo LeNet at the data's size trained with SGD and with L-BFGS-GSS;
 4. the 1-D interpolation between the FCP's SGD and L-BFGS-GSS solutions
    (Goodfellow et al. 2015), and 5. between LeNet's;
 6. a filter-normalised random plane around the SGD solution (Li et al. 2018 §4);
 7. the plane through three solutions (Im et al. 2016);
 8. the top Hessian eigenvalues of both solutions and the SLQ spectral
    density of the SGD one (Ghorbani et al. 2019);
 9. a FourierPathFinder path between two L-BFGS-GSS minima against the straight line;
10. kernel PCA (RBF) of the solution sets, final and early-stopped, with linear
    PCA beside it (optimizer-strategies paper, Fig. 6).

SGD's analyses use its early-stopped weights (the paper's "test set"
solutions), as the paper compares them with L-BFGS-GSS's final ones.

A step whose manifest exists is done: running again skips it (and refuses a
folder made with other settings), so an interrupted demo resumes where it
stopped. The demo's own manifest, in `out`, lists the steps and their times;
`lossatlas.report.build(out)` then makes the page.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lossatlas.optim.train import SCHEDULES
from lossatlas.plot import outputs
from lossatlas.results import manifest
from lossatlas.results.files import _jsonable, file_fingerprint, write_dataset

DATA = ("digits", "mnist-5k")
INIT_OFFSET = {"sgd": 0, "lbfgs-gss": 1000}


@dataclass(frozen=True)
class DemoSettings:
    """Every setting of the demo; the defaults (mnist-5k) take 4 min 5 s on 2 idle CPU cores
    (measured 2026-12-04), `data="digits"` under a minute."""

    data: str = "mnist-5k"  # real MNIST, the paper's FCP and LeNet shapes; or "digits"
    seeds: int = 4  # FCP solutions per set
    # SGD at batch 64 (the paper's). Plain SGD spikes on this FCP at every rate that trains
    # in 40 epochs (lr 0.3: runs ending at 8.4; 0.1 and 0.05: spikes above 2× the best in
    # every run); heavy-ball momentum with a cosine decay converges in every run
    # (benchmarks/sgd_settings.py: 8 of 8 stable, final training loss 0.089–0.100).
    sgd_epochs: int = 40
    sgd_lr: float = 0.03
    sgd_momentum: float = 0.9
    sgd_schedule: str = "cosine"
    lbfgs_iterations: int = 200  # 0.09 s each on mnist-5k: 4 runs take 70 s
    # LeNet at MNIST size costs 2.2 s an L-BFGS-GSS iteration and 1 s an SGD epoch on one
    # core (its forward+backward over 4,000 images is ~1 s), so the demo trains one run per
    # optimizer, shorter than the FCP's; its report says so.
    lenet_epochs: int = 15  # SGD; 0 leaves LeNet out
    lenet_lr: float = 0.05  # with the same momentum and schedule: 4 of 4 stable, 0.088–0.106
    lenet_iterations: int = 25  # L-BFGS-GSS
    # softplus (the zoo's default) sits on a plateau for the first ~50 iterations on digits
    lenet_activation: str = "tanh"
    line_points: int = 51
    grid: int = 41
    top: int = 10
    density_draws: int = 10  # the paper's k and m (Ghorbani et al. 2019)
    density_steps: int = 90
    path_points: int = 51  # the paper's FourierPathFinder settings
    path_steps: int = 100
    path_lr: float = 1e-3
    path_grid: int = 21

    def check(self) -> None:
        """Raises ValueError naming the first setting out of range."""
        minimum = {"seeds": 3, "sgd_epochs": 1, "lbfgs_iterations": 1, "lenet_epochs": 0}
        minimum |= {"lenet_iterations": 1 if self.lenet_epochs else 0}
        minimum |= {"line_points": 2, "grid": 2, "top": 1, "density_draws": 1}
        minimum |= {"density_steps": 2, "path_points": 3, "path_steps": 0, "path_grid": 2}
        for name, low in minimum.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                why = " (kernel PCA and the plane through three solutions need 3)"
                raise ValueError(
                    f"`{name}` must be an integer ≥ {low}{why if name == 'seeds' else ''}; "
                    f"got {value!r}."
                )
        if self.data not in DATA:
            raise ValueError(
                f"`data` must be one of {', '.join(DATA)} (the demo's data sets need no "
                f"download); got {self.data!r}."
            )
        for name in ("sgd_lr", "lenet_lr", "path_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be positive; got {getattr(self, name)!r}.")
        if not 0 <= self.sgd_momentum < 1:
            raise ValueError(f"`sgd_momentum` must be in [0, 1); got {self.sgd_momentum!r}.")
        if self.sgd_schedule not in SCHEDULES:
            raise ValueError(
                f"`sgd_schedule` must be 'constant' or 'cosine'; got {self.sgd_schedule!r}."
            )


class Demo:
    """Runs the steps in order, skipping finished ones; `run()` returns the demo's manifest."""

    def __init__(
        self,
        out: str | Path,
        settings: DemoSettings,
        *,
        say: Callable = print,
        device: torch.device | str | None = None,
    ):
        settings.check()
        self.out, self.s, self.say = Path(out), settings, say
        # not a setting: results on another device agree to float tolerance, so a demo
        # started on one device may resume on another
        self.device = device
        self.steps: list[dict[str, Any]] = []
        self._objectives: dict[str, Any] = {}
        self._reads: dict[str, str | None] = {}  # the files the running step has read

    # -- plumbing ---------------------------------------------------------------------------

    def _done(self, path: Path, settings: dict[str, Any]) -> bool:
        """Whether the step's manifest exists with these settings (refused with others) and
        the files it read (earlier steps' checkpoints) are still the ones it was made from."""
        if not path.exists():
            return False
        body = manifest.read(path)
        old = body.get("settings", {})
        new = json.loads(json.dumps(_jsonable(settings), default=str))
        if old != new:
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ValueError(
                f"{str(path.parent)!r} was made with other settings ({', '.join(diff)}): "
                "use another --out, or delete that folder to redo the step."
            )
        changed = [
            key
            for key, digest in (body.get("inputs") or {}).items()
            if file_fingerprint(self.out / key) != digest
        ]
        if changed:
            self.say(
                f"[{len(self.steps) + 1}] redoing: its inputs changed since it ran "
                f"({', '.join(changed)})"
            )
            # Its stores were keyed to the old inputs; they go, the manifest stays until the
            # redone step replaces it (a kill in between redoes the step again).
            for name in body.get("arrays") or []:
                target = path.parent / name
                if not target.resolve().is_relative_to(path.parent.resolve()):
                    continue  # only ever the step's own files
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
            return False
        return True

    def _step(
        self,
        folder: str,
        command: str,
        title: str,
        settings: dict[str, Any],
        work: Callable[[manifest.Record, Path], None],
        name: str | None = None,
    ) -> None:
        out = self.out / folder
        settings = {"data": self.s.data, **settings}  # a step on other data is another step
        path = out / manifest.manifest_name(name)
        label = f"[{len(self.steps) + 1}] {title}"
        resumed = self._done(path, settings)
        if resumed:
            self.say(f"[{len(self.steps) + 1}] skipped (done before): {title}")
        else:
            self.say(label)
            rec = manifest.begin(out, command, settings, title=title, name=name)
            self._reads = {}
            work(rec, out)
            for key, digest in sorted(self._reads.items()):
                rec.input(key, digest)
            rec.finish()
        body = manifest.read(path)
        self.steps.append(
            {
                "step": folder + (f" ({name})" if name else ""),
                "title": title,
                "manifest": path.relative_to(self.out).as_posix(),
                "seconds": body["timings"]["total"],
                "resumed": resumed,
                "results": body.get("results", {}),
            }
        )

    def _objective(self, model: str):
        """The FCP's (or LeNet's) train and test objectives, built once."""
        if model not in self._objectives:
            from lossatlas import Objective, zoo

            split = zoo.dataset(self.s.data)
            kw = {"activation": self.s.lenet_activation} if model == "lenet" else {}
            net = zoo.build_for(model, split, seed=0, **kw)
            train = Objective(net, split.train, loss="cross_entropy", device=self.device)
            test = train.with_data(split.test)
            self._objectives[model] = (split, net, train, test)
        return self._objectives[model]

    def _solution(self, folder: str, seed: int, which: str = "final") -> torch.Tensor:
        """A checkpoint of step `folder` (run `seed{seed}`, or `folder` = "03-lenet/sgd")."""
        model = "lenet" if "lenet" in folder else "fcp"
        path = self.out / folder / f"seed{seed}" / f"{which}.pt"
        # recorded, so that a rerun redoes this step when that checkpoint has changed
        self._reads[path.relative_to(self.out).as_posix()] = file_fingerprint(path)
        return self._objective(model)[2].load_point(path)

    # -- the steps ----------------------------------------------------------------------------

    def _train(self, model: str, runs: list[tuple[str, int, dict]]) -> Callable:
        """Training runs (optimizer, seed, settings), each into `[optimizer/]seed<seed>`."""

        def train(rec: manifest.Record, out: Path) -> None:
            from lossatlas import zoo
            from lossatlas.optim import train as run

            split = zoo.dataset(self.s.data)
            extra = {"activation": self.s.lenet_activation} if model == "lenet" else {}
            results = {}
            several = len({optimizer for optimizer, _, _ in runs}) > 1
            for optimizer, seed, kw in runs:
                # each optimizer from its own random initialisations, as in the paper (§III:
                # 75 initialisations per optimizer): run `seed<i>` of L-BFGS-GSS starts from
                # initialisation seed 1000 + i, SGD's from i
                init = seed + INIT_OFFSET[optimizer]
                net = zoo.build_for(model, split, seed=init, **extra)
                where = out / (optimizer if several else "") / f"seed{seed}"
                with rec.timed(f"{optimizer} seed {seed}"):
                    results[f"{optimizer} seed {seed}"] = run(
                        net, split, optimizer=optimizer, seed=seed, out=where, device=self.device,
                        **kw,
                    )  # fmt: skip
                for f in ("final.pt", "early_stopped.pt", "trajectory.pt"):
                    rec.array(where / f)
            outputs.training(rec, out, results)

        return train

    def _line(self, model: str, a: Callable, b: Callable, span: tuple[float, float]) -> Callable:
        def surface(rec: manifest.Record, out: Path) -> None:
            from lossatlas import surface as surf

            _, _, obj, test = self._objective(model)
            points = self.s.line_points
            ds = surf.line(obj, a(), b(), points, span=span, test=test, store=out / "surface.zarr")
            rec.array(out / "surface.zarr")
            outputs.surface(rec, ds, out)

        return surface

    def _planes(self, kind: str) -> Callable:
        def surface(rec: manifest.Record, out: Path) -> None:
            from lossatlas import surface as surf

            _, _, obj, test = self._objective("fcp")
            g, common = (self.s.grid, self.s.grid), {"test": test, "store": out / "surface.zarr"}
            if kind == "plane":
                theta = self._fcp_sgd()
                ds = surf.random_plane(obj, theta, g, ((-1, 1), (-1, 1)), seed=0, **common)
            else:
                points = [
                    self._fcp_sgd(),
                    self._solution("01-fcp-sgd", 1, "early_stopped"),
                    self._fcp_lbfgs(),
                ]
                ds = surf.solutions(obj, points, ("SGD 0", "SGD 1", "L-BFGS-GSS 0"), g, **common)
            rec.array(out / "surface.zarr")
            outputs.surface(rec, ds, out)

        return surface

    def _spectrum_eigen(self, rec: manifest.Record, out: Path) -> None:
        from lossatlas import curvature

        _, _, obj, _ = self._objective("fcp")
        top = {}
        for label, solution in (("SGD", self._fcp_sgd), ("L-BFGS-GSS", self._fcp_lbfgs)):
            with rec.timed(label):
                top[label] = curvature.top_eigenvalues(obj, solution(), self.s.top, seed=0)
            rec.results[f"top_eigenvalue {label}"] = float(top[label].eigenvalues[0])
        outputs.eigen(rec, out, top)

    def _spectrum_density(self, rec: manifest.Record, out: Path) -> None:
        from lossatlas import curvature
        from lossatlas.curvature.density import as_dataset

        _, _, obj, _ = self._objective("fcp")
        theta = self._fcp_sgd()
        d = curvature.density(obj, theta, draws=self.s.density_draws, steps=self.s.density_steps)
        rec.array(write_dataset(as_dataset(d), out / "density.zarr"))
        outputs.density(rec, out, d)

    def _path(self, rec: manifest.Record, out: Path) -> None:
        from lossatlas import paths

        _, _, obj, test = self._objective("fcp")
        a, b = self._solution("02-fcp-lbfgs-gss", 0), self._solution("02-fcp-lbfgs-gss", 1)
        with rec.timed("line"):
            line = paths.linear(obj, a, b, self.s.path_points, test=test)
        with rec.timed("fourier"):
            kw = {"points": self.s.path_points, "steps": self.s.path_steps, "lr": self.s.path_lr}
            fourier = paths.fourier(obj, a, b, terms=10, penalty=1e-3, test=test, **kw)
        for name, r in (("linear", line), ("fourier", fourier)):
            rec.array(write_dataset(r.to_dataset(), out / f"{name}.zarr"))
        with rec.timed("plane"):
            plane = paths.path_plane(
                obj, fourier, [line], self.s.path_grid, store=out / "plane.zarr"
            )
        rec.array(out / "plane.zarr")
        outputs.paths(rec, out, [line, fourier], plane)

    def _solutions(self, rec: manifest.Record, out: Path) -> None:
        from lossatlas.geometry.solution_sets import kernel_pca

        thetas, labels, names = [], [], []
        found: dict[str, dict[str, list[torch.Tensor]]] = {"sgd": {}, "lbfgs-gss": {}}
        for key, optimizer, folder in (
            ("sgd", "SGD", "01-fcp-sgd"),
            ("lbfgs-gss", "L-BFGS-GSS", "02-fcp-lbfgs-gss"),
        ):
            for which in ("final", "early_stopped"):
                found[key][which] = [self._solution(folder, s, which) for s in range(self.s.seeds)]
                thetas += found[key][which]
                for seed in range(self.s.seeds):
                    labels.append(f"{optimizer} {which.replace('_', '-')}")
                    names.append(f"{optimizer} seed {seed} ({which.replace('_', '-')})")
        ds = kernel_pca(thetas, labels, names=names)
        rec.array(write_dataset(ds, out / "solutions.zarr"))
        outputs.solution_sets(rec, out, ds)
        # Table 1, Table S1, Fig. 5 and Fig. 6 measured as the paper does, its values beside
        from lossatlas.studies import paper_figures

        _, _, obj, test = self._objective("fcp")
        rows, numbers = paper_figures.compare(obj, test, found, paper=self.s.data == "mnist-5k")
        rec.table("paper", rows)
        rec.results.update(numbers)

    # -- the whole job ------------------------------------------------------------------------

    # SGD's last iterate on this FCP can sit on a loss spike (its loss jumps between epochs at
    # any usable learning rate), so the analyses take SGD's early-stopped weights: the
    # optimizer-strategies paper's "test set" solutions.
    def _fcp_sgd(self) -> torch.Tensor:
        return self._solution("01-fcp-sgd", 0, "early_stopped")

    def _fcp_lbfgs(self) -> torch.Tensor:
        return self._solution("02-fcp-lbfgs-gss", 0)

    def _lenet_sgd(self) -> torch.Tensor:
        return self._solution("03-lenet/sgd", 0, "early_stopped")

    def _lenet_lbfgs(self) -> torch.Tensor:
        return self._solution("03-lenet/lbfgs-gss", 0)

    def run(self) -> Path:
        """Run (or resume) every step; write the demo's manifest and return its path."""
        s = self.s
        title = "lossatlas demo: the main job"
        record = manifest.begin(self.out, "demo", asdict(s), title=title)
        seeds = list(range(s.seeds))
        sgd = {
            "epochs": s.sgd_epochs,
            "lr": s.sgd_lr,
            "momentum": s.sgd_momentum,
            "schedule": s.sgd_schedule,
        }
        lbfgs = {"epochs": s.lbfgs_iterations}
        lenet_sgd = {**sgd, "epochs": s.lenet_epochs, "lr": s.lenet_lr}
        lenet_lbfgs = {"epochs": s.lenet_iterations}
        lenet = {"sgd": lenet_sgd, "lbfgs-gss": lenet_lbfgs, "activation": s.lenet_activation}
        inputs = 64 if s.data == "digits" else 784
        fcp = f"the zoo FCP ({inputs}→50→50→10, softplus, no biases) on {s.data}"
        steps: list[tuple] = [
            ("01-fcp-sgd", "train", f"SGD: {fcp}", {"seeds": seeds, **sgd},
             self._train("fcp", [("sgd", i, sgd) for i in seeds])),
            ("02-fcp-lbfgs-gss", "train", f"L-BFGS-GSS: {fcp}", {"seeds": seeds, **lbfgs},
             self._train("fcp", [("lbfgs-gss", i, lbfgs) for i in seeds])),
            ("03-lenet", "train", f"SGD and L-BFGS-GSS: the zoo LeNet ({s.lenet_activation}) "
             f"on {s.data}, one run each, shortened to fit the demo's time ({s.lenet_epochs} "
             f"epochs, {s.lenet_iterations} iterations: L-BFGS-GSS is not at its minimum "
             "yet; raise --lenet-iterations for that)", lenet,
             self._train("lenet", [("sgd", 0, lenet_sgd), ("lbfgs-gss", 0, lenet_lbfgs)])),
            ("04-line-fcp", "surface", "FCP: the line from the SGD (early-stopped) to the "
             "L-BFGS-GSS solution", {"points": s.line_points, "span": [-0.5, 1.5]},
             self._line("fcp", self._fcp_sgd, self._fcp_lbfgs, (-0.5, 1.5))),
            ("05-line-lenet", "surface", "LeNet: the line from the SGD (early-stopped) to the "
             "L-BFGS-GSS solution", {"points": s.line_points, "span": [-0.5, 1.5], **lenet},
             self._line("lenet", self._lenet_sgd, self._lenet_lbfgs, (-0.5, 1.5))),
            ("06-plane", "surface", "FCP: a filter-normalised random plane around the SGD "
             "solution", {"grid": s.grid, "span": 1.0, "seed": 0}, self._planes("plane")),
            ("07-solutions", "surface", "FCP: the plane through two SGD solutions and one "
             "L-BFGS-GSS solution", {"grid": s.grid}, self._planes("solutions")),
            ("08-spectrum", "spectrum eigen", "FCP: top Hessian eigenvalues of the SGD and "
             "L-BFGS-GSS solutions", {"top": s.top}, self._spectrum_eigen, "eigen"),
            ("08-spectrum", "spectrum density", "FCP: Hessian eigenvalue density at the SGD "
             "solution", {"draws": s.density_draws, "steps": s.density_steps},
             self._spectrum_density, "density"),
            ("09-path", "path", "FCP: FourierPathFinder between two L-BFGS-GSS minima, against "
             "the line", {"points": s.path_points, "steps": s.path_steps, "lr": s.path_lr,
                          "grid": s.path_grid}, self._path),
            ("10-kpca", "solutions", "FCP: the SGD and L-BFGS-GSS solution sets in kernel-PCA "
             "coordinates", {"seeds": seeds, "kernel": "rbf"}, self._solutions),
        ]  # fmt: skip
        for folder, *rest in steps:
            if "lenet" in folder and not s.lenet_epochs:
                continue
            self._step(folder, *rest)
        return self._finish(record)

    def _finish(self, rec: manifest.Record) -> Path:
        rec.table("steps", [{k: v for k, v in st.items() if k != "results"} for st in self.steps])
        for st in self.steps:
            rec.timings[st["step"]] = st["seconds"]
            short = st["step"].split("-", 1)[1].split(" ")[0]  # "fcp-sgd", "line-fcp", ...
            for key, value in st["results"].items():
                if key.startswith(
                    ("mean_", "top_eigenvalue", "height_", "diverged", "Table", "Fig")
                ):
                    rec.results[f"{short}: {key}"] = value
        rec.results["steps (sum of their times)"] = sum(st["seconds"] for st in self.steps)
        rec.results["steps run now"] = sum(not st["resumed"] for st in self.steps)
        return rec.finish()
