"""Bodies of the endpoint routes, in Moonshot 0.7.6's connector-endpoint shapes."""

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from service.http.schemas import MAX_INT64, NoControl

REDACTED = "***"
# A URI may carry a password (refused, but a refusal must not quote it back either).
SECRET_FIELDS = ("token", "uri")


def _redacted(loc: tuple[Any, ...], value: Any) -> Any:
    if loc and loc[-1] in SECRET_FIELDS:
        return REDACTED
    if isinstance(value, dict):
        return {key: REDACTED if key in SECRET_FIELDS else item for key, item in value.items()}
    return value


class TokenRedacted(BaseModel):
    """A body with a `token` and a `uri`: its validation errors never quote either back.

    An error about a missing field quotes the whole body, token included; the error table
    answers the input of each error, so the secrets are taken out here, where they are known.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _redact_token(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as error:
            details: list[Any] = []
            for item in error.errors():
                detail = {
                    "type": item["type"], "loc": item["loc"],
                    "input": _redacted(item["loc"], item["input"]),
                }
                if "ctx" in item:
                    detail["ctx"] = item["ctx"]
                details.append(detail)
            raise ValidationError.from_exception_data(error.title, details) from None


class EndpointCreate(TokenRedacted):
    """Moonshot's `EndpointCreateDTO`; `id` is ignored (it is the slug of the name)."""

    id: str | None = None
    name: Annotated[str, NoControl] = Field(min_length=1, max_length=256)
    connector_type: str = Field(min_length=1, max_length=100)
    uri: str = Field(default="", max_length=2048)
    token: str = Field(default="", max_length=8192)
    max_calls_per_second: int = Field(default=10, gt=0, le=MAX_INT64)
    max_concurrency: int = Field(default=1, gt=0, le=MAX_INT64)
    model: str = Field(default="", max_length=256)
    params: dict[str, Any] = Field(default_factory=dict)
    created_date: str | None = None


class EndpointUpdate(TokenRedacted):
    """Moonshot's `EndpointUpdateDTO`: every field optional; `id` and `created_date` ignored."""

    id: str | None = None
    name: Annotated[str, NoControl] | None = Field(default=None, min_length=1, max_length=256)
    connector_type: str | None = Field(default=None, min_length=1, max_length=100)
    uri: str | None = Field(default=None, max_length=2048)
    token: str | None = Field(default=None, max_length=8192)
    max_calls_per_second: int | None = Field(default=None, gt=0, le=MAX_INT64)
    max_concurrency: int | None = Field(default=None, gt=0, le=MAX_INT64)
    model: str | None = Field(default=None, max_length=256)
    params: dict[str, Any] | None = None
    created_date: str | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "created_date"}, exclude_none=True)


class EndpointOut(BaseModel):
    """Moonshot's `EndpointDataModel`; `token` is a fixed mask when one is set."""

    id: str
    name: str
    connector_type: str
    uri: str
    token: str
    max_calls_per_second: int
    max_concurrency: int
    model: str
    params: dict[str, Any]
    created_date: str


class Message(BaseModel):
    message: str


class EndpointCreated(Message):
    id: str
