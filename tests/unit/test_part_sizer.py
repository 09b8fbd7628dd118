"""Part sizes: a multi-terabyte dump must fit S3's 10,000 parts with bounded memory."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backupnimbus.adapters.s3_parts import S3_MAX_PARTS, PartSizer

MiB = 1024 * 1024
GiB = 1024 * MiB
TiB = 1024 * GiB


def _sizes(sizer: PartSizer) -> list[int]:
    return [sizer.size_of(number) for number in range(1, S3_MAX_PARTS + 1)]


def test_default_parts_hold_a_five_terabyte_dump() -> None:
    assert sum(_sizes(PartSizer())) >= 5 * TiB


def test_default_parts_stay_small_for_ordinary_dumps() -> None:
    # Memory holds concurrency + 1 parts, so a 10 GiB dump should not need big ones.
    sizes = _sizes(PartSizer())
    covered = 0
    for size in sizes:
        covered += size
        if covered >= 10 * GiB:
            break
    assert size <= 16 * MiB


sizers = st.builds(
    PartSizer,
    initial=st.integers(min_value=5 * MiB, max_value=5 * GiB),
    parts_per_step=st.integers(min_value=1, max_value=S3_MAX_PARTS),
)


@given(sizers)
def test_part_sizes_stay_within_s3_limits_and_never_shrink(sizer: PartSizer) -> None:
    sizes = _sizes(sizer)

    assert min(sizes) >= 5 * MiB
    assert max(sizes) <= 5 * GiB
    assert all(a <= b for a, b in itertools.pairwise(sizes))


@pytest.mark.parametrize(
    "arguments",
    [{"initial": 5 * MiB - 1}, {"initial": 5 * GiB + 1}, {"parts_per_step": 0}],
)
def test_sizes_s3_would_refuse_are_rejected_up_front(arguments: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        PartSizer(**arguments)
