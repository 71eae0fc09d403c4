"""Cohort members: building them with shared initial weights, and changing them live.

A cohort trains several models in lockstep in one worker: every member takes a step on the same
batch before the next batch is drawn, so differences between their curves come from the models,
not from the data order or the initial weights. Members whose parameters have the same names and
shapes (a CIFAR ResNet and its plain twin; two copies of one setup) start from the very same
weights: the later member gets a copy of the earlier member's initial state dict.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..config import ModelConfig, TrainConfig
from ..controls import Change
from ..devices import memory_format
from ..models import build_model, residual_blocks, stages
from .probes import GradNormProbe, WeightProbe


@dataclass
class Member:
    """One model of a cohort, with its optimiser, its on-device statistics and live state."""

    index: int
    name: str
    cfg: ModelConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    grads: GradNormProbe
    weights: WeightProbe
    losses: list[torch.Tensor] = field(default_factory=list)
    correct: list[torch.Tensor] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    first_loss: float | None = None
    last_loss: float = math.nan
    best_val_acc: float = math.nan
    last_val_acc: float = math.nan
    diverged_at: int | None = None
    diverged_reason: str | None = None
    start_scales: list[float] = field(default_factory=list)  # shortcut scales as configured
    lr_factor: float = 1.0  # live control: multiplies the schedule's learning rate
    bn_mode: str = "batch"  # live control: "batch" or "frozen" (running statistics)

    def train_mode(self) -> None:
        """Training mode, with BatchNorm in eval mode when frozen (see resnet_viz.controls)."""
        self.model.train()
        if self.bn_mode == "frozen":
            for module in self.model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def block_scales(self) -> list[float]:
        return [float(b.skip_scale) for _, b in residual_blocks(self.model)]


def make_optimizer(
    cfg: TrainConfig, model: nn.Module, total_steps: int, member: ModelConfig | None = None
):
    o = cfg.optim
    decay_rate = o.weight_decay
    if member is not None and member.weight_decay is not None:
        decay_rate = member.weight_decay
    # No weight decay on BN parameters and biases: the usual practice, and it keeps no-BN and
    # BN variants comparable.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": decay_rate},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if o.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.momentum > 0)
    else:
        opt = torch.optim.AdamW(groups, lr=o.lr)
    sched: torch.optim.lr_scheduler.LRScheduler
    if o.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    elif o.schedule == "step":  # ÷10 at 50% and 75%, as He et al. (2015) §4.2
        milestones = [int(total_steps * 0.5), int(total_steps * 0.75)]
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
    elif o.schedule == "onecycle" and total_steps >= 4:
        # At least two warm-up steps: OneCycleLR divides by zero when a phase is one step long.
        pct_start = max(0.25, 2.0 / total_steps)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=o.lr, total_steps=total_steps, pct_start=pct_start
        )
    else:  # constant (also one-cycle runs too short to have a cycle)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def lr_schedule(cfg: TrainConfig, points: int = 400) -> tuple[list[float], list[float]]:
    """``(epoch, lr)`` along ``cfg``'s schedule, from the optimiser and scheduler the trainer
    builds, stepped on a stand-in model. Every schedule here depends only on the fraction of
    the run done, so ``points`` steps show its shape for any dataset size."""
    total = max(points, 4)
    opt, sched = make_optimizer(cfg, nn.Linear(1, 1), total)
    epochs, lrs = [], []
    for step in range(total):
        epochs.append(cfg.epochs * step / total)
        lrs.append(sched.get_last_lr()[0])
        opt.step()  # no gradients: changes nothing, but keeps the scheduler's order check happy
        sched.step()
    return epochs, lrs


def _twins(member: Member, cfg: ModelConfig, model: nn.Module) -> bool:
    """Same setup up to the skips (so the same initialisation), and the same parameters."""
    if dataclasses.replace(member.cfg, skip=()) != dataclasses.replace(cfg, skip=()):
        return False
    sa, sb = member.model.state_dict(), model.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


def build_members(
    cfg: TrainConfig, num_classes: int, device: torch.device, total_steps: int
) -> tuple[list[Member], list[str]]:
    """Every member of ``cfg`` on ``device``; also notes on which members share initial
    weights (for the run's events)."""
    members: list[Member] = []
    notes: list[str] = []
    names = cfg.member_names()
    for index, mcfg in enumerate(cfg.members):
        # Re-seed per member, so a member whose parameters match no earlier one still starts
        # from what a single run of it with this seed would.
        torch.manual_seed(cfg.seed)
        model = build_model(
            mcfg.arch,
            num_classes,
            skip=mcfg.skip,
            batchnorm=mcfg.batchnorm,
            pretrained=mcfg.pretrained,
            zero_init_residual=mcfg.zero_init_residual,
        ).to(device, memory_format=memory_format(device))
        twin = next((m for m in members if _twins(m, mcfg, model)), None)
        if twin is not None:
            model.load_state_dict(twin.model.state_dict())  # nothing has trained yet
            notes.append(f"{names[index]} starts from the same weights as {twin.name}.")
        model.train()
        opt, sched = make_optimizer(cfg, model, total_steps, mcfg)
        members.append(
            Member(
                index,
                names[index],
                mcfg,
                model,
                opt,
                sched,
                GradNormProbe(model),
                WeightProbe(model),
                start_scales=[float(b.skip_scale) for _, b in residual_blocks(model)],
            )
        )
    return members, notes


def apply_change(member: Member, change: Change, *, check: bool = False) -> str | None:
    """Apply ``change`` to ``member`` (or with ``check`` only see whether it can be); returns
    why it cannot, or ``None``."""
    if change.kind == "lr":
        if not check:
            member.lr_factor = float(change.value)
    elif change.kind == "bn":
        if not check:
            member.bn_mode = str(change.value)
            member.train_mode()
    else:
        if change.block:
            blocks = dict(residual_blocks(member.model))
            if change.block not in blocks:
                return f"{member.name} has no block {change.block}"
            targets = [blocks[change.block]]
        elif change.stage:
            groups = stages(member.model)
            if change.stage > len(groups):
                return f"{member.name} has {len(groups)} stages, not {change.stage}"
            targets = groups[change.stage - 1]
        else:
            targets = [b for _, b in residual_blocks(member.model)]
        for block in [] if check else targets:
            block.skip_scale = float(change.value)
    return None
