"""DecodeConfig checks its numbers up front (Python API and CLI alike)."""

from __future__ import annotations

import numpy as np
import pytest
from cli_checks import cli_error

from gpudecode.errors import ParameterError
from gpudecode.io.traces_csv import write_traces_csv
from gpudecode.pipeline import DecodeConfig


@pytest.mark.parametrize("kwargs, field", [
    (dict(threshold=float("nan")), "--threshold"),
    (dict(threshold=1.5), "--threshold"),
    (dict(threshold=-0.1), "--threshold"),
    (dict(alpha=0.0), "--alpha"),
    (dict(alpha=1.0), "--alpha"),
    (dict(alpha=float("nan")), "--alpha"),
    (dict(alpha="a lot"), "--alpha"),
])
def test_out_of_range_values_are_refused(kwargs, field):
    with pytest.raises(ParameterError) as exc:
        DecodeConfig(**kwargs)
    assert exc.value.field == field and "Fix:" in str(exc.value)


def test_edges_that_are_allowed():
    config = DecodeConfig(threshold=0.0, alpha=0.999)
    assert config.threshold == 0.0 and config.alpha == 0.999
    assert DecodeConfig(threshold=1.0).threshold == 1.0


@pytest.mark.parametrize("argv, needles", [
    (["--threshold", "nan"], ["[--threshold]", "between 0 and 1"]),
    (["--alpha", "1.5"], ["[--alpha]", "strictly between 0 and 1"]),
    (["--alpha", "0"], ["[--alpha]", "--alpha 0.05"]),
    (["--pre", "-1"], ["[pre]", "before the anchor", "--pre 1"]),
    (["--post", "-0.5", "--pre", "2"], ["[post]", "after the anchor"]),
])
def test_cli_refuses_before_reading(tmp_path, capsys, argv, needles):
    write_traces_csv(tmp_path / "traces.csv", np.ones((2, 50)), np.arange(50) / 10.0)
    cli_error(["decode", tmp_path / "traces.csv", "--anchor", "A", "--out", tmp_path / "out",
               *argv], capsys, tmp_path, *needles)
