"""The Landscape page's work — surfaces and sharpness — under a status with a progress bar and
a Cancel button.

Cancel works through Streamlit itself, as on Explain (:mod:`.explainjobs`): any click reruns
the page, which stops the running script at its next progress update; the button's callback
notes what was cancelled so the page can say so once. The library stores each member as soon as
it is finished, so what finished before the click is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ..errors import ResNetVizError
from ..figures.landscape import contours
from ..landscape.run import Settings, record_landscapes, record_sharpness
from ..store import RunRecord
from .look import plot
from .resources import store
from .text import md

CANCELLED = "land.cancelled"  # session state: what the user cancelled, to say so once


def _cancel(what: str) -> None:
    st.session_state[CANCELLED] = what


def said_cancelled() -> None:
    """After a Cancel: one note of what was kept."""
    if what := st.session_state.pop(CANCELLED, None):
        st.info(
            f"Cancelled the {what}: members finished before the click are kept; compute the "
            "rest when you like.",
            icon=":material/cancel:",
        )


def _run(label: str, what: str, verb: str, key: str, work: Callable[..., None]) -> None:
    """``work(bar)`` under a status called ``label`` with Cancel; a failure says why there."""
    with st.status(label, expanded=True) as status:
        st.button("Cancel", icon=":material/cancel:", key=key, on_click=_cancel, args=(what,))
        bar = st.progress(0.0)
        try:
            work(bar)
        except ResNetVizError as err:
            status.update(label=f"Could not {verb} the {what}", state="error")
            st.error(md(err), icon=":material/error:")
            return
        status.update(label=f"Done: the {what}.", state="complete", expanded=False)
    st.rerun()


def compute(run: RunRecord, members: list[int], settings: Settings) -> None:
    """The surfaces, coarse first: each member's map is drawn as soon as its coarse grid is
    done and redrawn refined in place."""
    names = run.config.member_names()

    def work(bar) -> None:
        slot, drawn = st.empty(), [0]

        def tick(done: int, total: int) -> None:
            bar.progress(done / total, text=f"Evaluating: {done:,} of {total:,} forward passes")

        def update(payloads: dict[int, dict]) -> None:
            drawn[0] += 1
            named = {names[m]: p for m, p in sorted(payloads.items())}
            with slot.container():
                plot(st, contours(named), key=f"land.partial.{drawn[0]}")
                coarse = [n for n, p in named.items() if p.get("coarse")]
                if coarse:
                    side = len(next(p for p in named.values() if p.get("coarse"))["axis"])
                    st.caption(
                        f"A first {side}×{side} grid for {', '.join(coarse)}; refining to "
                        f"{settings.steps}×{settings.steps} in place."
                    )

        record_landscapes(store(), run.id, members, settings, progress=tick, update=update)

    _run("Computing the landscape…", "landscape", "compute", "land.cancel", work)


def measure_sharpness(run: RunRecord, members: list[int]) -> None:
    def work(bar) -> None:
        record_sharpness(
            store(), run.id, members,
            progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total}"),
        )  # fmt: skip

    _run(
        "Hessian-vector products… about half a minute per member on a CPU",
        "sharpness", "measure", "land.sharpness.cancel", work,
    )  # fmt: skip
