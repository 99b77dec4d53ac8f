"""`If-None-Match` matching: weak comparison, lists and `*`; nothing else matches."""

import pytest

from service.http.conditional import none_match

TAG = '"abc123"'


@pytest.mark.parametrize("header", [TAG, f"W/{TAG}", f'"x", {TAG}', f" {TAG} ", "*", '"x",*'])
def test_matches(header):
    assert none_match(header, TAG)


@pytest.mark.parametrize(
    "header", [None, "", "abc123", '"abc12"', '"ABC123"', "W/abc123", '"x", "y"', ",", 'W/"'],
)
def test_does_not_match(header):
    assert not none_match(header, TAG)
