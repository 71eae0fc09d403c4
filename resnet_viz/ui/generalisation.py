"""The Skip Lab's generalisation section: each member's accuracy on its training and
validation images, and the sharpness of the minimum it reached, side by side."""

from __future__ import annotations

import streamlit as st

from .. import keys
from ..experiments.verdicts import weight_decay
from ..figures.lab import generalisation_bars
from ..store import RunRecord, RunStore
from .look import plot


def generalisation(store: RunStore, run: RunRecord, names: list[str]) -> None:
    """Drawn when the run measured its members' fit on the training set (the ``sharpness``
    analysis, as the overfitting experiment asks)."""
    fits = store.analyses(run.id, keys.TRAIN_FIT)
    if not fits:
        return
    sharp = store.analyses(run.id, keys.SHARPNESS)
    members = run.config.members
    last = store.latest_and_best(run.id, keys.VAL_ACC, sorted(fits))
    rows = {
        i: (fit["accuracy"], last[i][0])
        for i, fit in sorted(fits.items())
        if i < len(names) and last[i][0] is not None
    }
    if not rows:
        return
    st.subheader("Generalisation")
    plot(st, generalisation_bars({names[i]: r for i, r in rows.items()}), key="lab.fit")
    table = {
        "member": [names[i] for i in rows],
        "weight decay": [f"{weight_decay(run.config, members[i]):g}" for i in rows],
        "gap (points)": [100 * (t - v) for t, v in rows.values()],
        "λmax": [sharp.get(i, {}).get("max_eigenvalue") for i in rows],
        "|λmin / λmax|": [sharp.get(i, {}).get("ratio") for i in rows],
        "trace (estimate)": [sharp.get(i, {}).get("trace") for i in rows],
    }
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "gap (points)": st.column_config.NumberColumn(format="%.1f"),
            **{
                k: st.column_config.NumberColumn(format="%.3g")
                for k in ("λmax", "|λmin / λmax|", "trace (estimate)")
            },
        },
    )
    st.caption(
        "Training accuracy is measured after training on every training image in eval mode "
        "(BatchNorm's running statistics, no augmentation), like the validation accuracy, so the "
        "gap compares like with like. λmax is the Hessian's largest eigenvalue at the trained "
        f"weights on {next(iter(sharp.values()), {}).get('images', 'the')} training images: a "
        "sharper minimum has a larger one. It is not scale-invariant — with BatchNorm, smaller "
        "weights give the same function larger curvature (Dinh et al. 2017) — so compare the "
        "filter-normalised surfaces on the Landscape page too."
    )
