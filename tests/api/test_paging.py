"""The bounds of `limit`, `offset` and `cursor`: one definition, both faces."""

import pytest
from pydantic import TypeAdapter, ValidationError

from service.api.errors import InvalidInput
from service.api.paging import (
    LIMIT_BOUNDS,
    MAX_INT64,
    MAX_LIMIT,
    POSITION_BOUNDS,
    Cursor,
    Limit,
    Offset,
    check_limit,
    check_page,
)
from service.http import params

OUT_OF_BOUNDS = [
    ("limit", 0), ("limit", MAX_LIMIT + 1), ("offset", -1), ("offset", MAX_INT64 + 1),
    ("cursor", -1), ("cursor", MAX_INT64 + 1),
]
AT_THE_EDGES = [
    ("limit", 1), ("limit", MAX_LIMIT), ("limit", None), ("offset", 0), ("offset", MAX_INT64),
    ("cursor", 0), ("cursor", MAX_INT64),
]
TYPES = {"limit": Limit, "offset": Offset, "cursor": Cursor}


class TestCheckPage:
    @pytest.mark.parametrize(("name", "value"), OUT_OF_BOUNDS)
    def test_out_of_bounds_is_invalid_input_naming_it(self, name, value):
        with pytest.raises(InvalidInput, match=f"^{name} must be between") as raised:
            check_page(**{name: value})
        assert raised.value.field == name

    @pytest.mark.parametrize(("name", "value"), AT_THE_EDGES)
    def test_the_edges_pass(self, name, value):
        check_page(**{name: value})

    def test_check_limit_is_the_limit_alone(self):
        check_limit(None)
        with pytest.raises(InvalidInput):
            check_limit(MAX_LIMIT + 1)


class TestAnnotatedTypes:
    """`validate_call` signatures refuse exactly what `check_page` refuses."""

    @pytest.mark.parametrize(("name", "value"), OUT_OF_BOUNDS)
    def test_refuse_the_same_values(self, name, value):
        with pytest.raises(ValidationError):
            TypeAdapter(TYPES[name]).validate_python(value)

    @pytest.mark.parametrize(("name", "value"), AT_THE_EDGES)
    def test_accept_the_same_values(self, name, value):
        assert TypeAdapter(TYPES[name]).validate_python(value) == value


def test_the_http_parameters_use_the_same_bounds():
    for parameter, bounds in [
        (params.Limit, LIMIT_BOUNDS), (params.Offset, POSITION_BOUNDS),
        (params.Cursor, POSITION_BOUNDS),
    ]:
        (query,) = parameter.__metadata__
        assert (query.ge, query.le) == bounds
