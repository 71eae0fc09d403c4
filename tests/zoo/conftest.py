"""Shared fixtures of the zoo tests: the bundled default model, and .pth bytes."""

from __future__ import annotations

import io

import pytest
import torch

from resnet_viz import zoo


@pytest.fixture(scope="module")
def default() -> zoo.LoadedModel:
    return zoo.load_default()


def _pth(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()
