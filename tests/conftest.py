"""Shared pytest setup.

The numba.cuda kernels are tested in a separate run, with the CUDA simulator
(which numba only enables when ``NUMBA_ENABLE_CUDASIM=1`` is set before it is
first imported) or on a real GPU (``tests/cuda_mode.py``)::

    NUMBA_ENABLE_CUDASIM=1 pytest        # runs only the tests marked cudasim
    GPUDECODE_REAL_CUDA=1 pytest         # the same tests on the GPU

In that run every test not marked ``cudasim`` is deselected (the simulator
replaces numba.cuda for the whole process); in a normal run nothing changes.
"""

from cuda_mode import CUDA_RUN


def pytest_collection_modifyitems(config, items):
    if not CUDA_RUN:
        return
    keep = [item for item in items if item.get_closest_marker("cudasim")]
    drop = [item for item in items if not item.get_closest_marker("cudasim")]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
