import os
import stat

import pytest

from gpudecode.atomic import atomic_path, atomic_write_text


def test_written_whole_with_ordinary_permissions(tmp_path):
    target = tmp_path / "sub" / "summary.json"
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_crash_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "cells.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["cells.csv"]
