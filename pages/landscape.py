"""Loss landscape: the training loss around a finished run's trained weights, along two random
filter-normalised directions (Li et al. 2018), for each member side by side."""

import streamlit as st

from resnet_viz import keys, ui
from resnet_viz.devices import pick_device
from resnet_viz.figures.landscape import (
    contours,
    linear_path,
    log_range,
    slices,
    surface3d,
    trajectory,
)
from resnet_viz.landscape import basin, twins_reading
from resnet_viz.landscape.run import MAX_STEPS, Settings, stored_landscapes
from resnet_viz.landscape.trajectory import MIN_SNAPSHOTS
from resnet_viz.ui import landscapejobs

ui.route_through_app()

INTRO = (
    "Why skip connections make deep nets trainable, as a picture. Around the trained weights θ "
    "the page evaluates the training loss at θ + a·d₁ + b·d₂ for two random directions d₁, d₂ "
    "and a grid of (a, b). Each direction is rescaled filter by filter to the norm of that "
    "filter's weights (Li et al. 2018, §4), so the surfaces of two nets can be compared; "
    "members with the same parameter shapes (a ResNet and its plain twin) are cut along the "
    "same random directions. Li et al. found a residual net's surface a wide, smooth basin and "
    "a deep plain net's a narrow one among chaotic hills."
)


def finished_runs():
    store = ui.store()
    out = []
    for r in store.list_runs():
        paths = [store.checkpoint_path(r.id, m) for m in range(len(r.members))]
        if not r.active and paths and all(p.exists() for p in paths):
            out.append(r)
    return out


def choose_run(runs):
    ids = [r.id for r in runs]
    wanted = st.query_params.get("run")
    if "land.run" not in st.session_state:
        st.session_state["land.run"] = wanted if wanted in ids else ids[0]
    by_id = {r.id: r for r in runs}
    run_id = st.selectbox(
        "Run",
        ids,
        key="land.run",
        format_func=lambda i: f"{by_id[i].name} · {by_id[i].describe()} · {i}",
    )
    st.query_params["run"] = run_id
    return by_id[run_id]


def settings_form() -> Settings:
    accelerated = pick_device("auto")[0].type != "cpu"
    with st.expander("Grid, range and images", expanded=ui.presenting()):
        c1, c2, c3 = st.columns(3)
        steps = c1.select_slider(
            "Grid points per axis",
            [s for s in range(5, MAX_STEPS + 1, 2) if s <= 51],
            value=21 if accelerated else 11,
            key="land.steps",
            help="Odd, so the trained weights sit at the centre. The work grows with its "
            "square: 21 per axis is 441 forward passes of the images per member.",
        )
        span = c2.select_slider(
            "Range along each direction", [0.25, 0.5, 1.0, 1.5, 2.0], value=1.0, key="land.span",
            help="1 = one filter norm: every filter moved by as much as its own size.",
        )  # fmt: skip
        images = c3.select_slider(
            "Training images evaluated", [64, 128, 256, 512, 1024, 2048],
            value=1024 if accelerated else 256, key="land.images",
        )  # fmt: skip
    return Settings(steps=steps, span=span, images=images)


def show(run, payloads: dict[int, dict]) -> None:
    names = run.config.member_names()
    named = {names[m]: p for m, p in sorted(payloads.items())}
    ui.plot(st, contours(named), key="land.contours")
    st.caption(
        "Colour: log₁₀ of the training loss, one scale for every member (equal colours, equal "
        "loss). The cross marks the trained weights; the axes are distances along the two "
        "directions in units of each filter's own norm."
    )
    # Parameters have the same shapes when the architecture and BatchNorm agree (shortcuts have
    # no parameters): only such members share the random directions.
    members = run.config.members
    groups: dict[tuple, list[str]] = {}
    for m in sorted(payloads):
        groups.setdefault((members[m].arch, members[m].batchnorm), []).append(names[m])
    if len(groups) > 1:
        st.warning(
            "These members have parameters of different shapes ("
            + "; ".join(", ".join(g) for g in groups.values())
            + "), so each group is cut along its own random directions: compare the shape and "
            "width of their basins, not the same point on two maps.",
            icon=":material/info:",
        )
    ui.plot(st, slices(named, colours={names[m]: m for m in payloads}), key="land.slices")
    walked = {n: p for n, p in named.items() if "path" in p}
    if walked:
        ui.plot(st, linear_path(walked, colours={names[m]: m for m in payloads}), key="land.path")
        st.caption(
            "The straight line from the weights before training (α = 0) to the trained ones "
            "(α = 1), as Goodfellow et al. (2015) drew it: a loss that falls smoothly all the "
            "way says nothing on that line stood in the optimiser's way. BatchNorm uses the "
            "trained running statistics all along."
        )
    if unwalked := [n for n, p in named.items() if "path" not in p]:
        st.caption(
            f"No straight path for {', '.join(unwalked)}: the run was trained before the trainer "
            "kept the initial weights. Train it again to draw it."
        )
    trajectory_section(run, named)
    with st.expander("3D surfaces"):
        zrange = log_range(named)
        cols = st.columns(min(3, len(named)))
        for i, (name, p) in enumerate(named.items()):
            ui.plot(cols[i % len(cols)], surface3d(p, name=name, zrange=zrange), key=f"land.3d.{i}")
    reading(run, payloads)


def trajectory_section(run, named: dict[str, dict]) -> None:
    st.subheader("The path training took")
    paths = {n: p["trajectory"] for n, p in named.items() if "trajectory" in p}
    if not paths:
        st.caption(
            f"This run kept no weight snapshots (or fewer than {MIN_SNAPSHOTS}) during training, "
            "so its path cannot be drawn. "
            "Skip Lab experiments keep them; for other runs set Weight snapshots on the Train page "
            "(10 is plenty), or `python -m resnet_viz.train --set snapshots=10`."
        )
        return
    ui.plot(st, trajectory(paths), key="land.trajectory")
    shares = "; ".join(f"{n}: {sum(p['explained']):.0%}" for n, p in paths.items())
    st.caption(
        "Random directions are nearly at right angles to the path training took, so the maps "
        "above cannot show it. Here each member's weights at evenly spaced points of training "
        "are projected on the two directions along which they moved most (PCA of their "
        "differences from the trained weights, Li et al. 2018, §7), over the loss in that "
        "plane. The axes are distances in weight space. The two directions hold this share of "
        f"the path's movement — {shares}; the rest of it is not in the picture."
    )
    if missing := [n for n in named if n not in paths]:
        st.caption(f"Fewer than {MIN_SNAPSHOTS} snapshots were kept for {', '.join(missing)}.")


def sharpness_table(run, members: list[int]) -> None:
    st.subheader("Sharpness at the trained weights")
    st.caption(
        "The Hessian of the training loss at the trained weights, from Hessian-vector products "
        "(Lanczos for both ends of its spectrum, Hutchinson's estimate of its trace). A large "
        "λmax is a sharp minimum; |λmin / λmax| near 0 means a convex-looking region, larger "
        "values strong negative curvature (Li et al. 2018, §6)."
    )
    names = run.config.member_names()
    found = {m: p for m, p in ui.store().analyses(run.id, keys.SHARPNESS).items() if m in members}
    if missing := [m for m in members if m not in found]:
        label = f"Measure the sharpness of {', '.join(names[m] for m in missing)}"
        refused = ui.roles.compute_refusal()
        if ui.roles.button(label, refused, icon=":material/speed:", key="land.sharpness"):
            landscapejobs.measure_sharpness(run, missing)
    if found:
        st.dataframe(
            {
                "member": [names[m] for m in found],
                "λmax": [p["max_eigenvalue"] for p in found.values()],
                "λmin": [p["min_eigenvalue"] for p in found.values()],
                "|λmin / λmax|": [p["ratio"] for p in found.values()],
                "trace (estimate)": [p["trace"] for p in found.values()],
            },
            hide_index=True,
            column_config={
                k: st.column_config.NumberColumn(format="%.3g")
                for k in ("λmax", "λmin", "|λmin / λmax|", "trace (estimate)")
            },
        )


def reading(run, payloads: dict[int, dict]) -> None:
    names = run.config.member_names()
    basins = {m: basin(p) for m, p in payloads.items()}
    st.subheader("What this run shows")
    st.markdown("\n".join(f"- **{names[m]}**: {b.describe()}" for m, b in basins.items()))
    members = run.config.members
    residual = [m for m in basins if members[m].residual]
    # Its plain twin: the same architecture with every shortcut off.
    plain = [
        m
        for m in basins
        for r in residual[:1]
        if members[m].plain and members[m].arch == members[r].arch
    ]
    if residual and plain:
        shows, text = twins_reading(
            (names[residual[0]], basins[residual[0]]), (names[plain[0]], basins[plain[0]])
        )
        (st.success if shows else st.warning)(text)
    else:
        st.info(
            "Pick a residual member and its plain twin (a Skip Lab cohort such as the "
            "degradation experiment) to compare their basins."
        )


st.title("Loss landscape")
st.caption(INTRO)
runs = finished_runs()
if not runs:
    st.info(
        "No finished run with saved weights yet. Train one (a Skip Lab cohort of a ResNet and "
        "its plain twin shows the difference best); its landscape can be drawn here."
    )
    st.page_link("pages/skiplab.py", label="Go to the Skip Lab", icon=":material/alt_route:")
    st.stop()
run = choose_run(runs)
names = run.config.member_names()
chosen = st.multiselect(
    "Members", names, default=names[:3], key=f"land.members.{run.id}",
    help="Each member gets its own surface, side by side on one colour scale.",
)  # fmt: skip
settings = settings_form()
members = [names.index(n) for n in chosen]
landscapejobs.said_cancelled()
have = stored_landscapes(ui.store(), run, members, settings)
missing = [m for m in members if m not in have]
if missing:
    points = settings.steps**2 * len(missing)
    st.info(
        f"Not computed yet for {', '.join(names[m] for m in missing)} with these settings: "
        f"{points:,} grid points, each a forward pass of {settings.images} images."
    )
    refusal = ui.roles.compute_refusal()
    if ui.roles.button(
        "Compute the landscape", refusal, type="primary", icon=":material/landscape:"
    ):
        landscapejobs.compute(run, missing, settings)
if have:
    show(run, have)
if members:
    sharpness_table(run, members)
