"""Watch your own training loop in ResNet Viz: a plain CIFAR-style loop on the Shapes set.

    python examples/watch_shapes.py            # then open the app's Train page: it is listed
    python examples/watch_shapes.py --model cnn   # any nn.Module: a small plain CNN
    make run                                   # (in another terminal) the app, if not running

Everything below is an ordinary PyTorch loop; the lines marked "resnet_viz" are all it
takes to see its per-layer gradient norms, loss and learning rate live, and to stop it from
the app. Copy them into your own script. ``run.save`` keeps the trained model with the run:
a ResNet (the default here) then opens on the Activations and Explain pages.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import resnet_viz
from resnet_viz.data import SHAPE_CLASSES, make_shapes
from resnet_viz.models import build_model

MEAN, STD = (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)  # x / 255 - 0.5: what run.save records


def small_cnn(num_classes: int = 10) -> nn.Module:
    """Any nn.Module works; this one is not a ResNet."""

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
        )

    return nn.Sequential(
        block(3, 16), nn.MaxPool2d(2), block(16, 32), nn.MaxPool2d(2), block(32, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )  # fmt: skip


def loaders(train_size: int, batch_size: int) -> tuple[DataLoader, DataLoader]:
    def dataset(n: int, seed: int) -> TensorDataset:
        shapes = make_shapes(n, seed=seed)
        return TensorDataset(shapes.images.float() / 255 - MEAN[0], shapes.labels)

    train = DataLoader(dataset(train_size, 0), batch_size=batch_size, shuffle=True)
    return train, DataLoader(dataset(train_size // 4, 1), batch_size=256)


@torch.no_grad()
def evaluate(model: nn.Module, val: DataLoader) -> tuple[float, float]:
    model.eval()
    loss = correct = n = 0.0
    for x, y in val:
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    model.train()
    return correct / n, loss / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("resnet8", "cnn"), default="resnet8")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-size", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--runs-dir", default=None, help="the app's run store (default: ./runs)")
    args = p.parse_args()
    torch.manual_seed(0)
    train, val = loaders(args.train_size, args.batch_size)
    model = build_model("resnet8", 10) if args.model == "resnet8" else small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * len(train)
    )
    config = {
        "model": args.model,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
    }
    with resnet_viz.watch(  # resnet_viz
        model, name="shapes cnn", runs_dir=args.runs_dir, config=config,
        total_steps=args.epochs * len(train),
    ) as run:  # fmt: skip
        for epoch in range(args.epochs):
            for x, y in train:
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                run.step(loss=loss, lr=sched.get_last_lr()[0])  # resnet_viz
                opt.step()
                opt.zero_grad()
                sched.step()
                if run.should_stop:  # resnet_viz: the app's Stop button
                    break
            acc, vloss = evaluate(model, val)
            run.eval(val_acc=acc, val_loss=vloss)  # resnet_viz
            print(f"epoch {epoch + 1}: val acc {acc:.1%}, val loss {vloss:.3f}")
            if run.should_stop:
                break
        run.save(classes=SHAPE_CLASSES, mean=MEAN, std=STD)  # resnet_viz: for Explain
    print(f"run {run.id}: open the app's Runs page to see it, or export it:")
    print(f"  python -m resnet_viz.export {run.id} --tensorboard tb/")


if __name__ == "__main__":
    main()
