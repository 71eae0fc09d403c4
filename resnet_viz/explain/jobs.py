"""One attribution map to compute, named by what decides its pixels: the job is its cache key."""

from __future__ import annotations

from typing import NamedTuple

from .base import Options, get_method


class Job(NamedTuple):
    """A map to compute. A NamedTuple: hashable and equal by value, so two requests for the
    same map (two sessions, two reruns) meet at one cache entry."""

    model: str
    method: str
    image: str
    target: int
    layer: str | None  # only for the layer methods
    options: Options | None  # only for the methods that read them

    @property
    def label(self) -> str:
        return get_method(self.method).label + (f" · {self.layer}" if self.layer else "")


def make_job(
    model: str, method: str, image: str, target: int, layer: str | None, options: Options | None
) -> Job:
    """The job for ``method``, without the layer or options it ignores: changing the Grad-CAM
    layer or the IG steps then recomputes only the maps that read them."""
    info = get_method(method)
    return Job(
        model,
        method,
        image,
        target,
        layer if info.uses_layer else None,
        options if info.slow else None,
    )
