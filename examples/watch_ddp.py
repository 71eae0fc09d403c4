"""The same loop under torchrun: DistributedDataParallel, one run in the app.

    torchrun --nproc_per_node=2 examples/watch_ddp.py     # two CPU processes (gloo), or GPUs

Rank 0 records the run (DDP has averaged the gradients, so its norms are the global ones);
the other ranks' ``run`` is a no-op that only agrees on ``should_stop``, so every rank leaves
the loop at the same step when Stop is pressed in the app.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler
from watch_shapes import small_cnn  # beside this file

import resnet_viz
from resnet_viz.data import make_shapes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-size", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--runs-dir", default=None)
    args = p.parse_args()
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)  # the same initial weights on every rank
    shapes = make_shapes(args.train_size, seed=0)
    data = TensorDataset(shapes.images.float() / 255 - 0.5, shapes.labels)
    sampler = DistributedSampler(data, shuffle=True, seed=0)
    train = DataLoader(data, batch_size=args.batch_size, sampler=sampler)
    model = DistributedDataParallel(small_cnn().to(device))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    config = {"lr": args.lr, "world_size": dist.get_world_size(), "backend": dist.get_backend()}
    with resnet_viz.watch(model, name="shapes ddp", runs_dir=args.runs_dir, config=config) as run:
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            for x, y in train:
                loss = F.cross_entropy(model(x.to(device)), y.to(device))
                loss.backward()
                run.step(loss=loss, lr=args.lr)
                opt.step()
                opt.zero_grad()
                if run.should_stop:
                    break
            if run.should_stop:
                break
    if dist.get_rank() == 0:
        print(f"run {run.id}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
