"""Bucket names follow S3's rules; object paths no store can hold are refused up front."""

from __future__ import annotations

import pytest

from tuneyard import errors
from tuneyard.core import buckets


@pytest.mark.parametrize("name", ["abc", "my-bucket", "data.2026", "a" * 63, "0-9"])
def test_s3_bucket_names_are_accepted(name: str) -> None:
    buckets.check_name(name)


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "My-Bucket", "my_bucket", "-abc", "abc-", ".abc", "abc.", "a..b",
     "192.168.5.4", "xn--abc", "abc-s3alias", "abc--ol-s3", "a b c", "abc/def", "ab\x00c", ""],
)  # fmt: skip
def test_other_bucket_names_are_refused(name: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        buckets.check_name(name)
    assert caught.value.param == "name"


@pytest.mark.parametrize("path", ["d/train.csv", "x" * 1024, "\u00e9" * 512, "a b/../c.jsonl"])
def test_paths_up_to_1024_utf8_bytes_pass(path: str) -> None:
    buckets.check_path(path, param="p")


@pytest.mark.parametrize(
    "path",
    ["a\x00b", "a\nb", "a\tb", "\x1f", "a\x7f", "a\x85b", "x" * 1025, "x" * 5000, "\u00e9" * 513,
     "\ud800"],
)  # fmt: skip
def test_control_characters_long_or_broken_paths_are_refused(path: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        buckets.check_path(path, param="trainingDatasetFilePath")
    assert caught.value.param == "trainingDatasetFilePath"
