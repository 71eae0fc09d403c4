"""Verdicts: did a Skip Lab experiment reproduce its published effect? Computed from the run's
own numbers in the store, never assumed. The thresholds below were fixed before the presets were
run and are not tuned to make an effect appear; a run that misses one says so.

Each member is found by what it is (plain or residual, depth, BatchNorm, shortcut scale), not by
its position, so a hand-built cohort gets the same verdict as the preset.
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
from .gradflow import PHASES, format_ratio, gradient_flow, ratio_verdict

_PLAIN, _RESIDUAL = attrgetter("plain"), attrgetter("residual")  # ModelConfig properties
FINAL_FRACTION = 0.1  # "final train loss" = mean per-batch loss over the last 10% of steps
RESIDUAL_TOLERANCE = (0.05, 0.01)  # deep residual ≤ shallow × (1 + 5%) + 0.01 nats
PULL_HURT = 1.25  # right after the pull, loss > 1.25 × the untouched twin's
RECOVERED = (1.25, 0.02)  # final loss ≤ twin × 1.25 + 0.02
NO_BN_RESIDUAL_ACC = 0.80
SHATTER_DROP = 0.1  # plain nets: neighbour correlation falls by more than this, shallow → deep


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


def _steps_note(summary: dict[str, Any]) -> str:
    return f"{summary.get('steps', 0):,} steps"


# ---- one function per experiment -------------------------------------------------------------
def degradation(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    plain, res = _pick(cfg, _PLAIN), _pick(cfg, _RESIDUAL)
    if len(plain) < 2 or len(res) < 2:
        return Verdict(None, "Needs a shallow and a deep plain net and residual net.")
    (ps, pd), (rs, rd) = (plain[0], plain[-1]), (res[0], res[-1])
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
    return Verdict(degraded and depth_helps, text, figures)


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
    figures = {"plain_corr": p_corr, "residual_corr": r_corr, "depths": depths, **ratios}
    return Verdict(reproduced, text, figures)


def no_bn(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    plain = [p for p in _pick(cfg, _PLAIN) if not p[1].batchnorm]
    res = [p for p in _pick(cfg, _RESIDUAL) if not p[1].batchnorm]
    if not plain or not res:
        return Verdict(None, "Needs a plain and a residual net without BatchNorm.")
    (pi, pm), (ri, rm) = plain[-1], res[-1]
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
    return Verdict(reproduced, text, figures)


def break_shortcut(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    by_scale = {}
    for i, m in enumerate(cfg.members):
        if len(set(m.skip)) == 1:
            by_scale.setdefault(m.skip[0], i)
    if 1.0 not in by_scale or len(by_scale) < 2:
        return Verdict(None, "Needs an identity-shortcut member and a scaled one.")
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
    return Verdict(worse, text, {f"x{s:g}": v for s, v in loss.items()})


def pull_skips(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict:
    pulls = [e for e in store.events(run_id) if e.kind == "skip" and e.member is not None]
    if len(cfg.members) < 2 or not pulls:
        return Verdict(None, "Needs an untouched twin and a member whose skips were pulled.")
    pulled, twin = pulls[0].member, 0 if pulls[0].member != 0 else 1
    off = next((e for e in pulls if e.payload.get("value") == 0), None)
    on = next((e for e in pulls if off and e.step > off.step and e.payload.get("value") == 1), None)
    steps, a = store.scalars(run_id, keys.TRAIN_LOSS, pulled)
    _, b = store.scalars(run_id, keys.TRAIN_LOSS, twin)
    if off is None or not len(a) or len(a) != len(b):
        return Verdict(None, "The pull did not happen (stopped early?).")
    width = max(3, round(len(a) * 0.05))
    after = (steps > off.step) & (steps <= off.step + width)
    hurt_ratio = float(np.mean(a[after]) / max(np.mean(b[after]), 1e-9))
    hurt = hurt_ratio > PULL_HURT
    fa, fb = final_loss(store, run_id, pulled), final_loss(store, run_id, twin)
    rel, absolute = RECOVERED
    recovered = on is not None and fa <= fb * rel + absolute
    names = [m.label for m in cfg.members]
    text = (
        f"Pulling the skips at step {off.step} made {names[pulled]}'s loss {hurt_ratio:.1f}× its "
        f"untouched twin's ({'hurt' if hurt else 'barely noticed'})"
    )
    if on is not None:
        text += (
            f"; after restoring them at step {on.step} it ended at {_fmt(fa)} vs the twin's "
            f"{_fmt(fb)}: {'recovered' if recovered else 'did NOT recover'}."
        )
    else:
        text += f"; the skips were not restored (final {_fmt(fa)} vs {_fmt(fb)})."
    text += " Reproduced." if hurt else " Did not reproduce: pulling the skips did not hurt."
    figures = {"hurt_ratio": hurt_ratio, "final_pulled": fa, "final_twin": fb}
    return Verdict(hurt, text, {**figures, "recovered": recovered})


VERDICTS: dict[str, Callable[[RunStore, str, TrainConfig, dict], Verdict]] = {
    "degradation": degradation,
    "shattering": shattering,
    "no-bn": no_bn,
    "break-shortcut": break_shortcut,
    "pull-skips": pull_skips,
}


def verdict(store: RunStore, run_id: str, cfg: TrainConfig, summary: dict) -> Verdict | None:
    """The verdict of ``cfg.experiment`` for this run, or ``None`` for other runs."""
    fn = VERDICTS.get(cfg.experiment)
    return fn(store, run_id, cfg, summary) if fn else None
