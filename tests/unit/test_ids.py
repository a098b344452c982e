"""Id and key formats."""

from __future__ import annotations

import datetime as dt
import re

from tuneyard.core import ids


def test_job_ids_are_eight_lowercase_alphanumerics() -> None:
    minted = {ids.new_job_id() for _ in range(2000)}
    assert len(minted) == 2000
    for job_id in minted:
        assert ids.JOB_ID_PATTERN.match(job_id)
        assert not job_id.isdigit()


def test_api_keys_carry_the_prefix_and_128_bits() -> None:
    key = ids.new_api_key("nv-")
    assert re.fullmatch(r"nv-[0-9a-f]{32}", key)
    assert ids.new_api_key("nv-") != key


def test_file_ids() -> None:
    assert re.fullmatch(r"file-[a-z0-9]{24}", ids.new_file_id())


def test_system_clock_is_aware_utc() -> None:
    now = ids.SystemClock().now()
    assert now.utcoffset() is not None
    assert now.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_id_styles_mint_ids_their_pattern_matches() -> None:
    dated = ids.IdStyle(prefix="ft-", length=4, stamp_offset=dt.timedelta(hours=8))
    minted = dated.mint(dt.datetime(2024, 10, 29, 8, 53, tzinfo=dt.UTC))
    assert minted.startswith("ft-202410291653-") and dated.pattern.match(minted)
    prefixed = ids.IdStyle(prefix="task-", length=12)
    assert re.fullmatch(r"task-[a-z0-9]{12}", prefixed.mint())
    assert not prefixed.pattern.match(ids.new_job_id())  # styles do not overlap
    assert ids.GROUP_ID_PATTERN.match(ids.new_group_id())
