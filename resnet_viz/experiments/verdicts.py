"""Verdicts: did a Skip Lab experiment reproduce its published effect? Computed from the run's
own numbers in the store, never assumed. The thresholds below were fixed before the presets were
run and are not tuned to make an effect appear; a run that misses one says so.

Each member is found by what it is (plain or residual, depth, BatchNorm, shortcut scale), not by
its position, so a hand-built cohort gets the same verdict as the preset.

A verdict judges the experiment that ran (see :mod:`.design`): a live or scheduled change that
altered a member it compares makes it say that it cannot judge, and why; the same learning-rate
factor or BatchNorm mode for every member keeps the comparison fair and is named in the text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from .. import keys
from ..config import ModelConfig, TrainConfig
from ..store import RunStore
from .design import (
    Alteration,
    alterations,
    built_states,
    cannot_judge,
    fair_note,
    listed,
    touching,
)
from .gradflow import PHASES, format_ratio, gradient_flow, ratio_verdict

_PLAIN, _RESIDUAL = attrgetter("plain"), attrgetter("residual")  # ModelConfig properties
FINAL_FRACTION = 0.1  # "final train loss" = mean per-batch loss over the last 10% of steps
RESIDUAL_TOLERANCE = (0.05, 0.01)  # deep residual ≤ shallow × (1 + 5%) + 0.01 nats
PULL_HURT = 1.25  # right after the pull, loss > 1.25 × the untouched twin's
RECOVERED = (1.25, 0.02)  # final loss ≤ twin × 1.25 + 0.02
NO_BN_RESIDUAL_ACC = 0.80
SHATTER_DROP = 0.1  # plain nets: neighbour correlation falls by more than this, shallow → deep
# Accuracy differences smaller than this are not called: 1,000 validation images give a
# standard error of about 1.3 points at 80%, so 3 points is two of them for a difference.
ACC_MARGIN = 0.03


@dataclass(frozen=True)
class Verdict:
    reproduced: bool | None  # None: the run cannot say (e.g. a member missing)
    text: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (a non-finite figure becomes ``None``: strict JSON has no inf/NaN)."""
        return _finite(asdict(self))


def _finite(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def final_loss(store: RunStore, run_id: str, member: int) -> float:
    """Mean training loss over the last 10% of steps (inf if the member diverged)."""
    _, loss = store.scalars(run_id, keys.TRAIN_LOSS, member)
    if not len(loss):
        return math.nan
    tail = loss[-max(3, round(len(loss) * FINAL_FRACTION)) :]
    return float(np.mean(tail)) if np.isfinite(tail).all() else math.inf


def _fmt(x: float) -> str:
    return "diverged" if math.isinf(x) else "–" if math.isnan(x) else f"{x:.3f}"


def _pick(cfg: TrainConfig, keep: Callable[[ModelConfig], bool]) -> list[tuple[int, ModelConfig]]:
    """Members that pass ``keep``, shallowest first."""
    return sorted(((i, m) for i, m in enumerate(cfg.members) if keep(m)), key=lambda p: p[1].depth)


def _altered(
    store: RunStore, run_id: str, cfg: TrainConfig, members: list[int]
) -> tuple[str | None, str]:
    """Why this run cannot be judged (a change altered a compared member), or ``None`` and the
    note a verdict adds when every member had the same fair change."""
    hit = touching(alterations(store.events(run_id), cfg), members)
    unfair = [a for a in hit if not a.fair]
    names = cfg.member_names()
    return (cannot_judge(unfair, names), "") if unfair else (None, fair_note(hit, names))


def _steps_note(summary: dict[str, Any]) -> str:
    return f"{summary.get('steps', 0):,} steps"


# ---- one function per experiment -------------------------------------------------------------
def degradation(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    plain, res = _pick(cfg, _PLAIN), _pick(cfg, _RESIDUAL)
    if len(plain) < 2 or len(res) < 2:
        return Verdict(None, "Needs a shallow and a deep plain net and residual net.")
    (ps, pd), (rs, rd) = (plain[0], plain[-1]), (res[0], res[-1])
    why, note = _altered(store, run_id, cfg, [ps[0], pd[0], rs[0], rd[0]])
    if why:
        return Verdict(None, why)
    loss = {i: final_loss(store, run_id, i) for i, _ in (ps, pd, rs, rd)}
    names = {i: m.label for i, m in (ps, pd, rs, rd)}
    degraded = loss[pd[0]] > loss[ps[0]]
    rel, absolute = RESIDUAL_TOLERANCE
    depth_helps = loss[rd[0]] <= loss[rs[0]] * (1 + rel) + absolute
    plain_line = (
        f"deep plain {names[pd[0]]} final train loss {_fmt(loss[pd[0]])} "
        f"{'>' if degraded else '≤'} shallow plain {names[ps[0]]} {_fmt(loss[ps[0]])}"
    )
    res_line = (
        f"deep residual {names[rd[0]]} {_fmt(loss[rd[0]])} "
        f"{'≤' if depth_helps else '>'} shallow residual {names[rs[0]]} {_fmt(loss[rs[0]])}"
        f"{' (within tolerance)' if depth_helps and loss[rd[0]] > loss[rs[0]] else ''}"
    )
    if degraded and depth_helps:
        text = f"{plain_line}: degradation reproduced; {res_line}: the skips remove it."
    elif degraded:
        text = (
            f"{plain_line}: degradation reproduced, but {res_line}: on this budget the deeper "
            "residual net has not caught up yet."
        )
    else:
        text = (
            f"Degradation did NOT reproduce on this budget ({_steps_note(summary)}): "
            f"{plain_line}. He et al. trained for 64k steps; early in training the deeper "
            f"plain net can still keep up. {res_line}."
        )
    figures = {names[i]: loss[i] for i in loss}
    return Verdict(degraded and depth_helps, text + note, figures)


def _first_to_last(store: RunStore, run_id: str, member: int) -> dict[str, float]:
    flow = gradient_flow(store.layer_series(run_id, keys.GRAD_NORM, member))
    return {p: flow.first_to_last(p) for p in PHASES} if flow else {}


def shattering(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    plain = [p for p in _pick(cfg, _PLAIN) if p[1].batchnorm]
    res = [p for p in _pick(cfg, _RESIDUAL) if p[1].batchnorm]
    sweep = store.analyses(run_id, keys.SHATTERING_DEPTH).get(keys.RUN_LEVEL)
    if not plain or not res or not sweep:
        return Verdict(None, "Needs plain and residual BatchNorm nets and the depth sweep.")
    deep_plain, deep_res = plain[-1], res[-1]
    why, note = _altered(store, run_id, cfg, [deep_plain[0], deep_res[0]])
    if why:
        return Verdict(None, why)
    ratios = _first_to_last(store, run_id, deep_plain[0])
    health = {p: ratio_verdict(r) for p, r in ratios.items()}
    healthy = bool(health) and all(v == "healthy" for v in health.values())
    p_corr, r_corr = sweep["plain"], sweep["residual"]
    decays = p_corr[0] - p_corr[-1] > SHATTER_DROP
    res_keeps = r_corr[-1] > p_corr[-1]
    trained = store.analyses(run_id, keys.SHATTERING)
    tp = trained.get(deep_plain[0], {}).get("corr", [math.nan])[0]
    tr = trained.get(deep_res[0], {}).get("corr", [math.nan])[0]
    depths = sweep["depth"]
    grads = ", ".join(f"{p} {format_ratio(r)}" for p, r in ratios.items())
    text = (
        f"Gradients of {deep_plain[1].label} with BatchNorm: first-to-last layer norm ratio "
        f"{grads} — {'healthy, not vanishing' if healthy else 'NOT healthy'}. "
        f"Neighbour-gradient correlation at initialisation, plain nets, depth {depths[0]} → "
        f"{depths[-1]}: {p_corr[0]:.2f} → {p_corr[-1]:.2f}; residual {r_corr[0]:.2f} → "
        f"{r_corr[-1]:.2f}. After training: {deep_plain[1].label} {tp:.2f}, "
        f"{deep_res[1].label} {tr:.2f}. "
    )
    reproduced = healthy and decays and res_keeps
    if reproduced:
        text += "Shattering reproduced: what depth breaks in a plain net is the gradients' "
        text += "structure, not their size."
    else:
        missing = [
            w
            for ok, w in (
                (healthy, "gradient norms were not healthy"),
                (decays, "plain-net correlation did not fall with depth"),
                (res_keeps, "the residual net did not keep more correlation"),
            )
            if not ok
        ]
        text += f"Did NOT reproduce here: {'; '.join(missing)}."
    text += note
    figures = {"plain_corr": p_corr, "residual_corr": r_corr, "depths": depths, **ratios}
    return Verdict(reproduced, text, figures)


def no_bn(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    plain = [p for p in _pick(cfg, _PLAIN) if not p[1].batchnorm]
    res = [p for p in _pick(cfg, _RESIDUAL) if not p[1].batchnorm]
    if not plain or not res:
        return Verdict(None, "Needs a plain and a residual net without BatchNorm.")
    (pi, pm), (ri, rm) = plain[-1], res[-1]
    why, note = _altered(store, run_id, cfg, [pi, ri])
    if why:
        return Verdict(None, why)
    models = {m["member"]: m for m in summary.get("models", []) if "member" in m}
    diverged = models.get(pi, {}).get("diverged_at")
    ratios = _first_to_last(store, run_id, pi)
    bad = {p: ratio_verdict(r) for p, r in ratios.items() if ratio_verdict(r) != "healthy"}
    broken = diverged is not None or bool(bad)
    acc = models.get(ri, {}).get("best_val_acc") or 0.0
    trains = acc >= NO_BN_RESIDUAL_ACC and models.get(ri, {}).get("diverged_at") is None
    if diverged is not None:
        plain_line = f"{pm.label} diverged at step {diverged}"
    else:
        grads = ", ".join(f"{p} {format_ratio(r)}" for p, r in ratios.items())
        what = ", ".join(f"{v} at the {p}" for p, v in bad.items()) or "within two orders"
        plain_line = f"{pm.label}: first-to-last layer gradient ratio {grads} ({what})"
    res_line = f"{rm.label} reached {acc:.1%} validation accuracy"
    reproduced = broken and trains
    if reproduced:
        text = f"{plain_line}; {res_line} (≥ {NO_BN_RESIDUAL_ACC:.0%}): reproduced."
    else:
        text = (
            f"Did NOT reproduce as expected: {plain_line}; {res_line} (expected the plain net "
            f"to break and the residual net to reach ≥ {NO_BN_RESIDUAL_ACC:.0%})."
        )
    figures = {"plain_diverged_at": diverged, "residual_best_val_acc": acc, **ratios}
    return Verdict(reproduced, text + note, figures)


def break_shortcut(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    by_scale = {}
    for i, m in enumerate(cfg.members):
        if len(set(m.skip)) == 1:
            by_scale.setdefault(m.skip[0], i)
    if 1.0 not in by_scale or len(by_scale) < 2:
        return Verdict(None, "Needs an identity-shortcut member and a scaled one.")
    why, note = _altered(store, run_id, cfg, list(by_scale.values()))
    if why:
        return Verdict(None, why)
    loss = {s: final_loss(store, run_id, i) for s, i in by_scale.items()}
    others = sorted(s for s in loss if s != 1.0)
    worse = all(loss[1.0] < loss[s] for s in others)
    parts = ", ".join(f"×{s:g}: {_fmt(loss[s])}" for s in sorted(loss, reverse=True))
    if worse:
        text = f"Final train loss by shortcut scale — {parts}: the identity shortcut trains best, "
        text += "as He et al. (2016, Table 1) found. Reproduced."
    else:
        text = f"Final train loss by shortcut scale — {parts}: the identity shortcut was NOT "
        text += f"best on this budget ({_steps_note(summary)}). Did not reproduce."
    return Verdict(worse, text + note, {f"x{s:g}": v for s, v in loss.items()})


def pull_skips(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    """Judges the first pull of a member's skips that had an identical, untouched twin beside
    it, whether the schedule or a live control made it; says so when no pull had one."""
    names = cfg.member_names()
    if len(cfg.members) < 2:
        return Verdict(None, "Needs an untouched twin and a member whose skips were pulled.")
    alts = alterations(store.events(run_id), cfg)
    first: dict[int, Alteration] = {}
    for a in alts:
        first.setdefault(a.member, a)
    # The designed (scheduled) pulls first, then live ones, each in order.
    pulls = sorted(
        (a for a in first.values() if a.change.kind == "skip" and float(a.change.value) == 0),
        key=lambda a: (a.source != "schedule", a.step),
    )
    if not pulls:
        changed = f" Changes made: {listed(alts, names)}." if alts else ""
        return Verdict(None, f"The skips were never pulled (stopped before the pull?).{changed}")
    steps, _ = store.scalars(run_id, keys.TRAIN_LOSS, pulls[0].member)
    width = max(3, round(len(steps) * 0.05))
    for n, pull in enumerate(pulls):
        judged = _judge_pull(store, run_id, cfg, alts, pull, width, unjudged=pulls[:n])
        if judged is not None:
            return judged
    finals = ", ".join(f"{n} {_fmt(final_loss(store, run_id, i))}" for i, n in enumerate(names))
    return Verdict(
        None,
        f"Cannot judge: no pull of the skips had an identical, untouched twin beside it "
        f"({listed(alts, names)}), so this run cannot say whether pulling them hurt. Final "
        f"train loss: {finals}.",
    )


def _judge_pull(
    store: RunStore,
    run_id: str,
    cfg: TrainConfig,
    alts: list[Alteration],
    pull: Alteration,
    width: int,
    *,
    unjudged: list[Alteration],
) -> Verdict | None:
    """The verdict on ``pull``, or ``None`` when no twin stayed untouched while it hurt;
    ``unjudged``: earlier candidates that had none."""
    names, p = cfg.member_names(), pull.member
    own_later = [a for a in alts if a.member == p and a.step >= pull.step and a.event != pull.event]
    end = min([pull.step + width, *(a.step for a in own_later)])
    twins = [
        i
        for i, m in enumerate(cfg.members)
        if i != p and m == cfg.members[p] and not touching(alts, [i], through=end)
    ]
    steps, a = store.scalars(run_id, keys.TRAIN_LOSS, p)
    after = (steps > pull.step) & (steps <= end)
    if not twins or not after.any():
        return None
    twin = twins[0]
    _, b = store.scalars(run_id, keys.TRAIN_LOSS, twin)
    if len(a) != len(b):
        return None
    hurt_ratio = float(np.mean(a[after]) / max(np.mean(b[after]), 1e-9))
    hurt = hurt_ratio > PULL_HURT
    built = built_states(cfg)[p]
    restore = next((x for x in own_later if x.state == built), None)
    text = (
        f"Pulling the skips of {pull.change.where()} in {names[p]}, from step {pull.step + 1}, "
        f"made its loss {hurt_ratio:.1f}× that of its untouched twin {names[twin]} "
        f"({'hurt' if hurt else 'barely noticed'})"
    )
    fa, fb = final_loss(store, run_id, p), final_loss(store, run_id, twin)
    spoilt = [x for x in alts if x.member == twin] + [
        x for x in own_later if restore is not None and x.step > restore.step
    ]
    recovered = None
    rel, absolute = RECOVERED
    if restore is None and spoilt:
        text += (
            "; the skips were not restored, and the final losses are not compared: the twin "
            f"changed afterwards ({listed(spoilt, names)})."
        )
    elif restore is None:
        text += f"; the skips were not restored (final {_fmt(fa)} vs {_fmt(fb)})."
    elif spoilt:
        text += (
            f"; they were restored from step {restore.step + 1}, but whether it recovered cannot "
            f"be judged: changes came after ({listed(spoilt, names)})."
        )
    else:
        recovered = fa <= fb * rel + absolute
        text += (
            f"; after restoring them from step {restore.step + 1} it ended at {_fmt(fa)} vs the "
            f"twin's {_fmt(fb)}: {'recovered' if recovered else 'did NOT recover'}."
        )
    others = [x for x in alts if x not in (pull, restore, *spoilt, *unjudged)]
    for x in unjudged:
        text += (
            f" The pull of {x.change.where()} in {names[x.member]}, from step {x.step + 1}, is "
            "not judged: no untouched twin beside it."
        )
    if others:
        text += f" Also changed during the run: {listed(others, names)}."
    text += " Reproduced." if hurt else " Did not reproduce: pulling the skips did not hurt."
    figures = {"hurt_ratio": hurt_ratio, "final_pulled": fa, "final_twin": fb}
    return Verdict(hurt, text, {**figures, "recovered": recovered, "pulled": p, "twin": twin})


def weight_decay(cfg: TrainConfig, member: ModelConfig) -> float:
    """The weight decay ``member`` trained with: its own, or the run's."""
    return cfg.optim.weight_decay if member.weight_decay is None else member.weight_decay


def overfitting(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    """Does weight decay close the train/validation gap, and is the better-generalising minimum
    the flatter one (smaller λmax)? Two questions, each answered from this run's numbers."""
    without = [i for i, m in enumerate(cfg.members) if weight_decay(cfg, m) == 0]
    with_ = [i for i, m in enumerate(cfg.members) if weight_decay(cfg, m) > 0]
    if not without or not with_:
        return Verdict(None, "Needs a member without weight decay and one with it.")
    a, b = without[0], with_[0]
    why, note = _altered(store, run_id, cfg, [a, b])
    if why:
        return Verdict(None, why)
    fit, sharp = store.analyses(run_id, keys.TRAIN_FIT), store.analyses(run_id, keys.SHARPNESS)
    if a not in fit or b not in fit:
        return Verdict(None, "No training-set accuracy was measured: the run ended before its "
                             "analyses (stopped, or a member diverged).")  # fmt: skip
    last = store.latest_and_best(run_id, keys.VAL_ACC, (a, b))
    val = {i: math.nan if last[i][0] is None else last[i][0] for i in (a, b)}
    train = {i: fit[i]["accuracy"] for i in (a, b)}
    gap = {i: train[i] - val[i] for i in (a, b)}
    names = cfg.member_names()

    def line(i: int) -> str:
        return (f"{names[i]}: train {train[i]:.1%}, validation {val[i]:.1%}, gap "
                f"{100 * gap[i]:.1f} points")  # fmt: skip

    closes = gap[b] < gap[a] - ACC_MARGIN
    text = f"{line(a)}; {line(b)}. " + (
        f"Weight decay closes the gap here (by {100 * (gap[a] - gap[b]):.1f} points)."
        if closes
        else "Weight decay did NOT close the gap by more than "
        f"{100 * ACC_MARGIN:.0f} points on this run."
    )
    figures: dict[str, Any] = {"gap": {names[i]: gap[i] for i in gap}, "closes_gap": closes}
    if a in sharp and b in sharp:
        lam = {i: sharp[i]["max_eigenvalue"] for i in (a, b)}
        figures["max_eigenvalue"] = {names[i]: lam[i] for i in lam}
        better, worse = (a, b) if val[a] > val[b] else (b, a)
        sharpness = f"(λmax {lam[better]:.3g} against {lam[worse]:.3g} for {names[worse]})"
        if abs(val[a] - val[b]) < ACC_MARGIN:
            text += (
                f" They generalise about equally (validation within {100 * ACC_MARGIN:.0f} "
                f"points), so flatness is not put to the test (λmax {lam[a]:.3g} for "
                f"{names[a]}, {lam[b]:.3g} for {names[b]})."
            )
            figures["flatter_generalises_better"] = None
        else:
            flatter = lam[better] < lam[worse]
            figures["flatter_generalises_better"] = flatter
            text += (
                f" The better-generalising minimum, {names[better]}'s, is the "
                f"{'flatter' if flatter else 'SHARPER'} one {sharpness}."
            )
            if not flatter:
                text += (
                    " λmax is not scale-invariant: weight decay shrinks the weights, and with "
                    "BatchNorm a net with smaller weights computes the same function with "
                    "larger curvature (Dinh et al. 2017). Li et al. (2018) compare "
                    "filter-normalised surfaces for this reason: see the Landscape page."
                )
    return Verdict(closes, text + note, figures)


VERDICTS: dict[str, Callable[[RunStore, str, TrainConfig, dict], Verdict]] = {
    "degradation": degradation,
    "shattering": shattering,
    "no-bn": no_bn,
    "break-shortcut": break_shortcut,
    "pull-skips": pull_skips,
    "overfitting": overfitting,
}


def verdict(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict | None:
    """The verdict of ``cfg.experiment`` for this run, or ``None`` for other runs."""
    fn = VERDICTS.get(cfg.experiment)
    return fn(store, run_id, cfg, summary) if fn else None
