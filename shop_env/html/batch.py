"""Many pages at once: :func:`simplify` spread over worker processes.

Pages are independent, so the work splits across processes with no shared state; each
worker compiles the recipe once and then simplifies the pages it is handed. Results come
back in input order and are exactly what ``simplify`` gives page by page (tests check it).
"""
from __future__ import annotations

import itertools
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Iterable, Iterator, Sized

from shop_env.html.pipeline import SimplifiedPage, simplify
from shop_env.html.recipes import Recipe, load_recipe

IN_FLIGHT_PER_JOB = 4  # pages handed out ahead per worker: keeps workers busy, memory bounded

# The settings of the current worker process (set once by _init_worker).
_worker_settings: dict = {}


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker(recipe: str | dict | Recipe | None, keep_href: bool, auto_recipe: bool) -> None:
    _worker_settings.update(recipe=load_recipe(recipe) if recipe is not None else None,
                            keep_href=keep_href, auto_recipe=auto_recipe)


def _simplify_in_worker(raw: str | bytes | None, url: str | None) -> SimplifiedPage:
    s = _worker_settings
    return simplify(raw, url=url, recipe=s["recipe"], keep_href=s["keep_href"],
                    auto_recipe=s["auto_recipe"])


def simplify_iter(pages: Iterable[str | bytes | None], *,
                  urls: Iterable[str | None] | None = None,
                  recipe: str | dict | Recipe | None = None, keep_href: bool = False,
                  auto_recipe: bool = True, jobs: int | None = None) -> Iterator[SimplifiedPage]:
    """Yield ``simplify(page, url, recipe, ...)`` for each page, in input order, computed by
    ``jobs`` worker processes (default: one per available CPU; 1 runs in this process).

    ``pages`` is read lazily, at most a few pages per worker ahead of the results.
    ``urls``: one address per page (None: no url). A bad recipe raises
    :class:`shop_env.errors.DataError` here, before any work starts. Workers are started
    with the platform's default multiprocessing method.
    """
    if recipe is not None:
        load_recipe(recipe)  # validate here, so a bad recipe fails before any work
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if isinstance(pages, Sized):
        jobs = max(1, min(jobs, len(pages)))
    worker_recipe = recipe.spec if isinstance(recipe, Recipe) else recipe
    if jobs > 1 and isinstance(recipe, Recipe) and worker_recipe is None:
        raise ValueError("a Recipe built by hand cannot be sent to worker processes: pass "
                         "its name, path or dict (or jobs=1)")
    work = _with_urls(pages, urls)
    if jobs == 1:
        for raw, url in work:
            yield simplify(raw, url=url, recipe=recipe, keep_href=keep_href,
                           auto_recipe=auto_recipe)
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                             initargs=(worker_recipe, keep_href, auto_recipe)) as pool:
        pending: deque[Future[SimplifiedPage]] = deque()
        try:
            for raw, url in work:
                pending.append(pool.submit(_simplify_in_worker, raw, url))
                if len(pending) >= jobs * IN_FLIGHT_PER_JOB:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the caller stopped early: drop the queued pages
                future.cancel()


_NO_URL: Any = object()


def _with_urls(pages: Iterable[str | bytes | None],
               urls: Iterable[str | None] | None) -> Iterator[tuple[str | bytes | None, str | None]]:
    """(page, url) pairs. ``urls`` may be longer than ``pages`` (e.g. ``itertools.repeat``);
    one that runs out first raises rather than dropping pages."""
    url_iter: Iterator[str | None] = iter(urls) if urls is not None else itertools.repeat(None)
    for i, page in enumerate(pages):
        url = next(url_iter, _NO_URL)
        if url is _NO_URL:
            raise ValueError(f"urls ran out at page {i}: give one address per page (None for none)")
        yield page, url


def simplify_many(pages: Iterable[str | bytes | None], *,
                  urls: Iterable[str | None] | None = None,
                  recipe: str | dict | Recipe | None = None, keep_href: bool = False,
                  auto_recipe: bool = True, jobs: int | None = None) -> list[SimplifiedPage]:
    """``[simplify(page, ...) for page in pages]``, computed by ``jobs`` worker processes
    (default: one per available CPU). See :func:`simplify_iter`."""
    return list(simplify_iter(pages, urls=urls, recipe=recipe, keep_href=keep_href,
                              auto_recipe=auto_recipe, jobs=jobs))
