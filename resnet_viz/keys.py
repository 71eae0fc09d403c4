"""The names a run is recorded under: written by the trainer (or any writer of the store) and
read by the charts, verdicts, exports and benchmarks. Spelled here once, so writer and readers
cannot drift apart.
"""

from __future__ import annotations

import re

# ---- scalars: (member, key, step) → value ------------------------------------------------------
TRAIN_LOSS = "train/loss"  # per batch
TRAIN_ACC = "train/acc"  # per batch
VAL_LOSS = "val/loss"  # at each evaluation
VAL_ACC = "val/acc"
LR = "lr"  # the learning rate each step used
SKIPPED = "train/skipped"  # 1 where a GradScaler skipped the step (inf/NaN gradients), else 0
THROUGHPUT = "throughput"  # training images per second over the last logging interval
STEP_RATE = "steps_per_s"  # a watched script's steps per second (it does not say its batch size)
EPOCH = "epoch"  # at each evaluation: the epoch it closes (1-based)
ELAPSED = "elapsed"  # at each evaluation: seconds since the run started
SHATTER_NEIGHBOUR = "shatter/neighbour"  # at each evaluation, runs that ask for shattering

# ---- per-layer statistics: one float32 vector per (member, kind, step) --------------------------
GRAD_NORM = "grad_norm"
WEIGHT_NORM = "weight_norm"
UPDATE_RATIO = "update_ratio"
RESIDUAL_RATIO = "residual_ratio"
RESPONSE_STD = "response_std"
# Which list of a member's layer names labels the columns of each statistic.
CONV_LAYERS, BLOCK_LAYERS = "conv", "block"
KIND_GROUP = {
    GRAD_NORM: CONV_LAYERS,
    WEIGHT_NORM: CONV_LAYERS,
    UPDATE_RATIO: CONV_LAYERS,
    RESIDUAL_RATIO: BLOCK_LAYERS,
    RESPONSE_STD: BLOCK_LAYERS,
}

# ---- analyses after training: JSON per (member, kind) ------------------------------------------
LESION = "lesion"
LANDSCAPE = "landscape"  # the loss surface around a member's trained weights (resnet_viz.landscape)
SHARPNESS = "sharpness"  # the Hessian's extreme eigenvalues and trace at the trained weights
# The trained net on its own training images, in eval mode (loss, accuracy): with the last
# validation accuracy, the generalisation gap the overfitting experiment judges.
TRAIN_FIT = "train_fit"
SHATTERING = "shattering"
SHATTERING_DEPTH = "shattering_depth"
RUN_LEVEL = -1  # the member index of analyses that belong to the run, not to one member

# ---- settings every session reads (the store's settings table) -------------------------------
EVERYONE_TRAINS = "classroom.everyone_trains"  # "1": a classroom's viewers may start runs too

# ---- files in a run's folder -------------------------------------------------------------------
WORKER_LOG = "worker.log"


def checkpoint_name(member: int) -> str:
    """The file name of member ``member``'s checkpoint in its run's folder."""
    return f"model-{member}.safetensors"


def initial_checkpoint_name(member: int) -> str:
    """The file name of member ``member``'s weights before its first step (the start of the
    linear path a loss landscape draws, Goodfellow et al. 2015)."""
    return f"model-{member}-init.safetensors"


def snapshot_name(member: int, step: int) -> str:
    """The file name of member ``member``'s weights after step ``step`` (a point of the
    training trajectory, TrainConfig.snapshots)."""
    return f"model-{member}-step-{step}.safetensors"


SNAPSHOT_NAME = re.compile(r"model-(\d+)-step-(\d+)\.safetensors")
