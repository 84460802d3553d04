"""A pool of worker processes for a study's independent pieces of work.

`Workers.map` runs a module-level function over a list of items, serially in
this process when workers = 1, else in processes started with "spawn" (no
process inherits torch's thread pools or a half-used OpenMP runtime). Every
item runs with the same number of torch threads (`threads`, default 1)
serially or in a pool, because multi-threaded kernels reduce in another order
and change float results (L-BFGS-GSS on the digits FCP ends 0.08 apart in
some weights after 30 iterations with 1 and 2 threads): the number of workers
never changes a number.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch

from lossatlas.core.progress import progress_bar


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` intra-op threads, restoring the count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_workers() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _call(fn: Callable[..., Any], item: Any) -> Any:
    return fn(*item) if isinstance(item, tuple) else fn(item)


class Workers:
    """A pool of `workers` processes, started on first use and shared by a study's stages.

    With workers = 1 everything runs here, serially, under `threads` torch
    threads; otherwise in "spawn"ed processes each set to `threads` threads.
    Spawned processes import the caller's main module again, so a script that
    runs a study with workers > 1 must guard its entry point with
    `if __name__ == "__main__":` (Python's rule for every spawning pool).

    Use as a context manager; `map` may be called any number of times.

    Raises:
        ValueError: workers or threads below 1.
    """

    def __init__(self, workers: int | None = 1, threads: int = 1):
        workers = default_workers() if workers is None else workers
        if not (isinstance(workers, int) and workers >= 1):
            raise ValueError(
                f"`workers` must be an integer ≥ 1 (or None for all cores); got {workers!r}."
            )
        if not (isinstance(threads, int) and threads >= 1):
            raise ValueError(f"`threads` must be an integer ≥ 1; got {threads!r}.")
        self.workers, self.threads = workers, threads
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads,),
            )
        return self._pool

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        description: str = "work",
        progress: bool = True,
    ) -> list[Any]:
        """[fn(item) for item in items] (a tuple item is unpacked), in the order of `items`.

        `fn` must be a module-level function and the items picklable when
        workers > 1; an exception in any item is raised here.
        """
        results: list[Any] = [None] * len(items)
        with progress_bar(description, len(items), enabled=progress) as bar:
            if self.workers == 1 or len(items) <= 1:
                with torch_threads(self.threads):
                    for i, item in enumerate(items):
                        results[i] = _call(fn, item)
                        bar.update(i + 1)
                return results
            pool = self._executor()
            futures = {pool.submit(_call, fn, item): i for i, item in enumerate(items)}
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                bar.update(done)
        return results


def parallel_map(
    fn: Callable[..., Any],
    items: Sequence[Any],
    *,
    workers: int | None = 1,
    threads: int = 1,
    description: str = "work",
    progress: bool = True,
) -> list[Any]:
    """`Workers(workers, threads).map(fn, items)` with a pool of its own."""
    with Workers(workers, threads) as pool:
        return pool.map(fn, items, description=description, progress=progress)
