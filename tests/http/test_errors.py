"""The error table: every domain error and every Litestar error answers its status and body."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.exceptions import (
    InternalServerException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from pydantic import BaseModel, Field, validate_call

from service.api.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NoDatabase,
    NotFound,
    PreconditionRequired,
    RateLimited,
    RejectedArgument,
    SparringError,
    Stale,
    Unauthenticated,
    Unavailable,
    UnknownName,
)
from service.http.errors import (
    DOMAIN_STATUS,
    INTERNAL_ERROR,
    REQUEST_STATUS,
    BodyTooLarge,
    InvalidBody,
    MalformedRequest,
    UnsupportedMediaType,
    error_response,
    exception_handlers,
    send_error,
)
from tests.support.answers import json_invalid

RAISED = {
    "not-found": NotFound("Session x does not exist."),
    "conflict": Conflict("Runner x already exists."),
    "stale": Stale("The session changed."),
    "forbidden": Forbidden("Viewers may not change sessions."),
    "unauthenticated": Unauthenticated("No API key."),
    "challenged": Unauthenticated("Invalid API key.", challenge="Bearer"),
    "precondition-required": PreconditionRequired("Send If-Match with the session's ETag."),
    "rate-limited": RateLimited("More than 60 requests in a minute.", retry_after=7),
    "unavailable": Unavailable("The database does not answer."),
    "no-database": NoDatabase("No database instance provided."),
    "malformed": MalformedRequest("Host 'evil.example' is not served in local mode."),
    "too-large": BodyTooLarge("Request Entity Too Large"),
    "media-type": UnsupportedMediaType("The request body must be JSON."),
    "invalid": InvalidInput("limit must be at least 1.", field="limit"),
    "invalid-without-field": InvalidInput("Something is off."),
    "rejected": RejectedArgument("[Session] Failed to initialise Session. Invalid Runner ID.",
                                 field="runner_id"),
    "unknown-name": UnknownName("[Session] Metric m does not exist.", field="metric"),
    "sparring": SparringError("An error nobody mapped."),
    "bug": KeyError("a bug"),
    "http-500": InternalServerException("stream consumed"),
    "http-401": NotAuthorizedException("Who are you?", headers={"WWW-Authenticate": "Bearer"}),
}


class Body(BaseModel):
    name: str = Field(min_length=3)
    count: int = Field(default=1, ge=0)


@validate_call
def typed(count: int) -> int:
    return count


@get("/raise/{kind:str}")
async def raise_error(kind: FromPath[str]) -> None:
    raise RAISED[kind]


@get("/items/{limit:str}")
async def raise_for_path(limit: FromPath[str]) -> None:
    raise InvalidInput("limit must be at least 1.", field="limit")


SHAPED = {"loc": ["body", "a", 0, "b"], "msg": "twice", "type": "duplicate_key", "input": "b"}
RAISED["invalid-body"] = InvalidBody("Duplicate key.", errors=[SHAPED])


@post("/shaped", status_code=200)
async def raise_shaped() -> None:
    raise ValidationException(
        "Duplicate key.",
        extra=[SHAPED],
    )


@get("/typed")
async def call_typed() -> int:
    return typed("seven")  # type: ignore[arg-type]


@post("/body", status_code=200)
async def take_body(data: JSONBody[Body]) -> Body:
    return data


@get("/query")
async def take_query(
    limit: Annotated[int | None, QueryParameter(ge=1)] = None, flag: FromQuery[bool] = False
) -> dict[str, object]:
    return {"limit": limit, "flag": flag}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Litestar(
        [raise_error, raise_for_path, raise_shaped, call_typed, take_body, take_query],
        exception_handlers=exception_handlers(),
        request_max_body_size=1024,
        logging_config=None,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


class TestDomainErrors:
    @pytest.mark.parametrize(
        ("kind", "status"),
        [
            ("not-found", 404),
            ("conflict", 409),
            ("stale", 412),
            ("forbidden", 403),
            ("unauthenticated", 401),
            ("challenged", 401),
            ("precondition-required", 428),
            ("rate-limited", 429),
            ("unavailable", 503),
            ("no-database", 503),
            ("malformed", 400),
            ("too-large", 413),
            ("media-type", 415),
            ("unknown-name", 422),
        ],
    )
    async def test_each_maps_to_its_status_with_a_detail(self, client, kind, status):
        response = await client.get(f"/raise/{kind}")
        assert response.status_code == status
        assert response.json() == {"detail": str(RAISED[kind])}

    def test_every_domain_error_class_is_in_the_table(self):
        expected = {
            NotFound, Conflict, Stale, Forbidden, Unauthenticated, NoDatabase, InvalidInput,
            PreconditionRequired, RateLimited, Unavailable, UnknownName,
        }
        assert expected <= set(DOMAIN_STATUS)
        assert {MalformedRequest, BodyTooLarge, UnsupportedMediaType, InvalidBody} <= set(
            REQUEST_STATUS
        )

    async def test_a_rate_limit_says_when_to_retry(self, client):
        response = await client.get("/raise/rate-limited")
        assert response.headers["retry-after"] == "7"

    async def test_a_challenge_asks_for_a_bearer_key_and_no_challenge_asks_nothing(self, client):
        challenged = await client.get("/raise/challenged")
        assert challenged.headers["www-authenticate"] == "Bearer"
        plain = await client.get("/raise/unauthenticated")
        assert "www-authenticate" not in plain.headers

    async def test_something_unavailable_says_when_to_retry(self, client):
        response = await client.get("/raise/unavailable")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"

    @pytest.mark.parametrize("kind", ["not-found", "stale", "forbidden", "too-large"])
    async def test_other_answers_carry_no_extra_headers(self, client, kind):
        response = await client.get(f"/raise/{kind}")
        assert "retry-after" not in response.headers
        assert "www-authenticate" not in response.headers

    async def test_a_body_refused_before_parsing_answers_in_the_validation_shape(self, client):
        response = await client.get("/raise/invalid-body")
        assert response.status_code == 422
        assert response.json() == {"error": [SHAPED]}

    async def test_invalid_input_is_a_validation_error_naming_the_field(self, client):
        response = await client.get("/raise/invalid")
        assert response.status_code == 422
        assert response.json() == {
            "error": [
                {
                    "loc": ["body", "limit"],
                    "msg": "limit must be at least 1.",
                    "type": "value_error",
                    "input": None,
                }
            ]
        }

    async def test_a_field_sent_in_the_query_is_located_there(self, client):
        response = await client.get("/raise/invalid", params={"limit": "0"})
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["query", "limit"]

    async def test_a_field_of_the_path_is_located_there(self, client):
        response = await client.get("/items/0", params={"limit": "0"})
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["path", "limit"]

    async def test_invalid_input_without_a_field_is_about_the_body(self, client):
        response = await client.get("/raise/invalid-without-field")
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["body"]

    async def test_a_rejected_argument_follows_invalid_input(self, client):
        response = await client.get("/raise/rejected")
        assert response.status_code == 422
        (error,) = response.json()["error"]
        assert (error["loc"], error["msg"]) == (
            ["body", "runner_id"], "[Session] Failed to initialise Session. Invalid Runner ID."
        )

    async def test_an_unknown_name_is_a_detail_though_it_is_invalid_input(self, client):
        # Moonshot's clients read `detail` for a name that does not exist, not the list.
        assert isinstance(RAISED["unknown-name"], InvalidInput)
        response = await client.get("/raise/unknown-name")
        assert response.status_code == 422
        assert response.json() == {"detail": "[Session] Metric m does not exist."}

    async def test_an_error_already_in_shape_is_answered_as_it_is(self, client):
        response = await client.post("/shaped")
        assert response.status_code == 422
        assert response.json() == {"error": [SHAPED]}

    async def test_a_pydantic_error_from_a_domain_function_is_422(self, client):
        response = await client.get("/typed")
        assert response.status_code == 422
        (error,) = response.json()["error"]
        # validate_call names a positional argument by its index.
        assert error["loc"] == ["body", 0]
        assert error["type"] == "int_parsing"
        assert error["input"] == "seven"
        assert "url" not in error


class TestUnexpectedErrors:
    @pytest.mark.parametrize("kind", ["bug", "sparring", "http-500"])
    async def test_are_500_without_internals(self, client, kind, caplog):
        response = await client.get(f"/raise/{kind}")
        assert response.status_code == 500
        assert response.json() == {"detail": INTERNAL_ERROR}
        assert any(record.exc_info for record in caplog.records)


class TestLitestarErrors:
    async def test_body_errors_in_moonshots_shape(self, client):
        response = await client.post("/body", json={"name": "ab", "count": "x"})
        assert response.status_code == 422
        assert response.json() == {
            "error": [
                {
                    "loc": ["body", "name"],
                    "msg": "String should have at least 3 characters",
                    "type": "string_too_short",
                    "input": "ab",
                },
                {
                    "loc": ["body", "count"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "type": "int_parsing",
                    "input": "x",
                },
            ]
        }

    async def test_query_errors_name_the_parameter_and_input(self, client):
        response = await client.get("/query", params={"limit": 0, "flag": "maybe"})
        assert response.status_code == 422
        errors = response.json()["error"]
        assert [(error["loc"], error["input"]) for error in errors] == [
            (["query", "limit"], "0"),
            (["query", "flag"], "maybe"),
        ]
        assert all(error["msg"] for error in errors)

    @pytest.mark.parametrize(
        ("body", "offset", "message"),
        [
            (b"{nope", 1, "object keys must be strings"),
            (b'{"name": NaN}', 9, "invalid character"),
            (b'{"name": "abc"}}', 16, "trailing characters"),
            (b'{"name": ', 0, "Input data was truncated"),
        ],
        ids=["bad-character", "nan", "trailing", "truncated"],
    )
    async def test_json_litestar_cannot_decode_is_422_json_invalid(
        self, client, body, offset, message
    ):
        # What the body guard lets through (it is not mounted here) meets Litestar's decoder.
        response = await client.post(
            "/body", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json() == json_invalid(offset, message)

    async def test_a_body_over_the_limit_is_413(self, client):
        response = await client.post("/body", json={"name": "x" * 2000})
        assert response.status_code == 413
        assert response.json() == {"detail": "Request Entity Too Large"}

    async def test_no_route_is_404_and_a_wrong_method_405(self, client):
        missing = await client.get("/nowhere")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
        wrong = await client.delete("/body")
        assert wrong.status_code == 405
        assert wrong.json() == {"detail": "Method Not Allowed"}

    async def test_http_errors_keep_their_headers(self, client):
        response = await client.get("/raise/http-401")
        assert response.status_code == 401
        assert response.json() == {"detail": "Who are you?"}
        assert response.headers["www-authenticate"] == "Bearer"


class TestOutsideLitestarsHandlers:
    """A middleware that runs where the exception handlers do not answers from the same table."""

    @staticmethod
    def around(app, raised: Exception):
        async def middleware(scope, receive, send):
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            await send_error(send, raised)

        return middleware

    @pytest.mark.parametrize(
        ("kind", "header"),
        [("rate-limited", "retry-after"), ("challenged", "www-authenticate"), ("malformed", None)],
    )
    async def test_send_error_answers_as_the_handlers_do(self, kind, header):
        inner = Litestar(
            [raise_error], exception_handlers=exception_handlers(), logging_config=None
        )
        raised = RAISED[kind]
        transport = httpx.ASGITransport(app=self.around(inner, raised))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as bare:
            answered = await bare.get("/anything")
        transport = httpx.ASGITransport(app=inner)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as handled:
            expected = await handled.get(f"/raise/{kind}")
        assert answered.status_code == expected.status_code
        assert answered.json() == expected.json()
        assert answered.headers["content-type"] == "application/json"
        if header is not None:
            assert answered.headers[header] == expected.headers[header]

    async def test_an_unmapped_error_is_a_500_without_internals(self, caplog):
        response = error_response(KeyError("secret internals"))
        assert (response.status_code, response.content) == (500, {"detail": INTERNAL_ERROR})
        assert any(record.exc_info for record in caplog.records)

    def test_a_field_without_a_request_is_located_in_the_body(self):
        response = error_response(InvalidInput("limit must be at least 1.", field="limit"))
        assert response.content["error"][0]["loc"] == ["body", "limit"]
