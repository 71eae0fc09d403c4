"""Batches from an in-memory split: shuffled by (seed, epoch), normalised on the device."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torchvision.transforms import v2

from ..devices import memory_format
from .datasets import Split


class Batches:
    """Iterate ``(x, y)`` float batches over a split held on ``device`` as uint8.

    Shuffling draws from its own generator seeded by ``(seed, epoch)``, so every member of a
    cohort, and every re-run, sees the same batches in the same order.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        device: torch.device,
        shuffle: bool = True,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.batch_size = batch_size
        self.shuffle, self.seed, self.device = shuffle, seed, device
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.memory_format = memory_format(device)
        size = self.images.shape[-1]
        # He et al. (2015) §4.2: pad by 4 (of 32) and crop, plus horizontal flips.
        self.augment = (
            v2.Compose([v2.RandomCrop(size, padding=max(1, size // 8)), v2.RandomHorizontalFlip()])
            if augment
            else None
        )

    def __len__(self) -> int:
        n = len(self.labels)
        # Drop a ragged last batch when shuffling: tiny batches make BatchNorm statistics noisy.
        return (
            n // self.batch_size
            if self.shuffle and n >= self.batch_size
            else -(-n // self.batch_size)
        )

    def epoch(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(n, generator=g).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            x = self.images[idx]
            if self.augment is not None:
                x = torch.stack([self.augment(img) for img in x])
            yield self.normalise(x), self.labels[idx]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float().div_(255) - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format)
