"""Shares in tables: one number format for a whole column (resnet_viz.ui.tables)."""

from __future__ import annotations

from resnet_viz.ui.tables import percent, percent_bar


def test_shares_become_percentages_drawn_with_one_decimal():
    assert abs(percent(0.577) - 57.7) < 1e-9
    assert percent(None) is None
    column = percent_bar()
    # The same decimals on every row: "57.7%" and "80.5%", not "57.7%" above "80.45%".
    assert column["type_config"]["format"] == "%.1f%%"
    assert (column["type_config"]["min_value"], column["type_config"]["max_value"]) == (0, 100)
