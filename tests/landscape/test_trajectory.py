"""The training trajectory's PCA plane (Li et al. 2018, §7): a path that lies in a plane is
found in it and drawn exactly, a straight one along one direction, oriented towards the end."""

from __future__ import annotations

import pytest
import torch

from resnet_viz.landscape.trajectory import pca_directions


def _plane(coefficients, final):
    """Snapshots final + a·u + b·v for orthonormal u, v over the 2-D weight ``w``."""
    u = torch.zeros_like(final["w"])
    v = torch.zeros_like(final["w"])
    u[0, 0], v[1, 2] = 1.0, 1.0
    return [{"w": final["w"] + a * u + b * v, "b": final["b"]} for a, b in coefficients]


def test_a_path_in_a_plane_is_drawn_exactly_on_it():
    final = {"w": torch.randn(3, 4), "b": torch.randn(3)}
    coeffs = [(-3.0, -1.0), (-2.0, 0.5), (-1.0, -0.2), (0.0, 0.0)]
    snaps = _plane(coeffs, final)
    path = pca_directions(snaps, final)
    assert sum(path.explained) == pytest.approx(1.0)
    assert path.explained[0] >= path.explained[1] > 0
    d1, d2 = path.directions
    assert torch.count_nonzero(d1["b"]) == 0 and torch.count_nonzero(d2["b"]) == 0
    assert float(d1["w"].norm()) == pytest.approx(1.0) and float((d1["w"] * d2["w"]).sum()) == (
        pytest.approx(0.0, abs=1e-6)
    )
    for (x, y), s in zip(path.points.tolist(), snaps, strict=True):
        rebuilt = final["w"] + x * d1["w"] + y * d2["w"]
        assert torch.allclose(rebuilt, s["w"], atol=1e-5)  # every snapshot lies on the plane
    assert path.points[-1].tolist() == [0.0, 0.0]
    x0, y0 = path.points[0].tolist()
    assert x0 < 0 and y0 < 0  # oriented: the path heads up and right, to the trained weights


def test_a_straight_path_needs_one_direction():
    final = {"w": torch.randn(2, 3), "b": torch.zeros(2)}
    snaps = _plane([(-4.0, 0.0), (-2.0, 0.0), (-1.0, 0.0)], final)
    path = pca_directions([*snaps, final], final)
    assert path.explained[0] == pytest.approx(1.0) and path.explained[1] == pytest.approx(0.0)
    assert path.points[:, 0].tolist() == pytest.approx([-4.0, -2.0, -1.0, 0.0], abs=1e-5)


def test_a_trajectory_needs_two_snapshots_away_from_the_end():
    final = {"w": torch.randn(2, 3)}
    with pytest.raises(ValueError, match="three snapshots"):
        pca_directions([{"w": final["w"] + 1}, {"w": final["w"] - 1}, final], final)
