"""The Explain page's work: maps and sanity checks computed with a progress bar and a Cancel
button, kept in one cache that every browser session shares, and read back as outcomes.

Cancel works through Streamlit itself: any click reruns the page, and a rerun stops the running
script at its next element update, i.e. at the next progress report, between two of Captum's
chunks (IG steps, occlusion windows, noise samples). The button's callback then marks the
requests as cancelled in this session, so the new run does not start them again; only finished
results are cached, so a cancelled map leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import streamlit as st
import torch

from .. import explain, zoo
from ..errors import ResNetVizError
from ..explain import Job, Options, method_info
from ..explain.cache import ResultCache
from ..explain.sanity import cascading_randomisation

CANCELLED = "explain.cancelled"  # session state: requests the user cancelled
SANITY_RUNS = "explain.sanity_runs"  # session state: sanity checks the user asked for


@st.cache_resource(show_spinner=False)
def results() -> ResultCache:
    """Maps and sanity results for every session (why not st.cache_data: see ResultCache)."""
    return ResultCache(max_entries=512)


@st.cache_resource(show_spinner=False, max_entries=8)
def dataset_draws(mkey: str, _loaded: zoo.LoadedModel, n: int) -> list[torch.Tensor]:
    """``n`` input tensors from the model's dataset, the same every time (seed 0)."""
    return [_loaded.to_tensor(s.image) for s in zoo.dataset_samples(_loaded, n, seed=0)]


def _session_set(key: str) -> set:
    return st.session_state.setdefault(key, set())


def cancel(keys: Iterable[Hashable]) -> None:
    _session_set(CANCELLED).update(keys)


def retry(keys: Iterable[Hashable]) -> None:
    _session_set(CANCELLED).difference_update(keys)


def outcome(key: Hashable) -> tuple[str, object]:
    """``(kind, value)``: ``("map", tensor)`` or ``("sanity", SanityResult)``, ``("error",
    message)``, ``("cancelled", None)``, or ``("missing", None)`` when nothing has run."""
    if key in _session_set(CANCELLED) and key not in results():
        return ("cancelled", None)
    return results().get(key, ("missing", None))


def compute(
    jobs: Sequence[Job], what: str, loaded: zoo.LoadedModel, tensors: dict[str, torch.Tensor]
) -> None:
    """Compute the jobs that are neither cached nor cancelled, under a status naming ``what``."""
    cache, cancelled = results(), _session_set(CANCELLED)
    todo = [j for j in jobs if j not in cache and j not in cancelled]
    if not todo:
        return
    with st.status(f"Computing {what}…", expanded=True) as status:
        if any(method_info(j.method).slow for j in todo):
            st.button(
                "Cancel",
                icon=":material/cancel:",
                key=f"explain.cancel.{what}",
                on_click=cancel,
                args=(todo,),
            )
        bar = st.progress(0.0)
        for i, j in enumerate(todo):

            def show(f: float, i: int = i, label: str = j.label) -> None:
                bar.progress((i + f) / len(todo), text=f"{label}: {f:.0%}")

            try:
                # Looked up on the package at each call, so that a replaced one (tests) is used.
                attr = explain.attribute(
                    loaded.model,
                    tensors[j.image],
                    j.method,
                    j.target,
                    j.layer,
                    options=j.options,
                    progress=show,
                )
                cache.put(j, ("map", attr))
            except ResNetVizError as err:  # cannot run here: say why, do not try again
                cache.put(j, ("error", str(err)))
            except RuntimeError as err:  # from torch: out of memory, an odd layer…
                cache.put(j, ("error", f"{j.label} failed on this model: {err}"))
        status.update(label=f"Computed {what}.", state="complete", expanded=False)


def computed(jobs: Iterable[Job]) -> dict[Job, torch.Tensor]:
    """The maps of those ``jobs`` that have one (not cancelled, failed or still to compute)."""
    found = {}
    for j in jobs:
        kind, value = outcome(j)
        if kind == "map":
            found[j] = value
    return found


def sanity(
    key: Hashable,
    asked: bool,
    loaded: zoo.LoadedModel,
    images: Sequence[torch.Tensor],
    methods: Sequence[str],
    layer: str,
    options: Options,
) -> tuple[str, object]:
    """The outcome of the sanity check cached under ``key``, run first if the user has asked
    for it (``asked``: just now, which also undoes an earlier Cancel) and it is not cached."""
    runs, cancelled, cache = _session_set(SANITY_RUNS), _session_set(CANCELLED), results()
    if asked:
        runs.add(key)
        cancelled.discard(key)
    if key in runs and key not in cancelled and key not in cache:
        with st.status("Randomising the network, layer by layer…", expanded=True) as status:
            st.button("Cancel", key="explain.cancel.sanity", on_click=cancel, args=([key],))
            bar = st.progress(0.0)
            try:
                found = cascading_randomisation(
                    loaded.model,
                    images,
                    methods,
                    layer=layer,
                    options=options,
                    progress=lambda f: bar.progress(f, text=f"{f:.0%}"),
                )
                cache.put(key, ("sanity", found))
            except (ResNetVizError, RuntimeError) as err:  # a failed check is an answer: cached
                cache.put(key, ("error", f"The sanity check failed on this model: {err}"))
            status.update(label="Sanity check done.", state="complete", expanded=False)
    return outcome(key)
