"""Request bodies take JSON's own types: `true` is not an integer, `1` is not a boolean.

Pydantic's lax mode would turn `{"expires_in": false}` into 0 and `{"active": 1}` into True,
accepting a body the OpenAPI schema says is invalid (schemathesis found the first one).
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, StrictInt, TypeAdapter, ValidationError

from mboa.app import create_app
from mboa.kit.schemas import InputSchema


def _input_schemas() -> Iterator[type[InputSchema]]:
    create_app()  # imports every domain's schemas
    pending: list[type[InputSchema]] = [InputSchema]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model is not InputSchema:
            yield model


def _plain_types(annotation: Any) -> set[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain_types(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return {t for arg in get_args(annotation) for t in _plain_types(arg)}
    return {annotation}


def _scalar_fields() -> Iterator[tuple[str, Any, set[Any]]]:
    for model in _input_schemas():
        for name, field in model.model_fields.items():
            plain = _plain_types(field.annotation)
            if plain & {int, bool}:
                annotation = (
                    Annotated[field.annotation, *field.metadata]
                    if field.metadata
                    else field.annotation
                )
                yield f"{model.__name__}.{name}", annotation, plain


def _wrong_values(plain: set[Any]) -> list[Any]:
    wrong: list[Any] = []
    if int in plain and bool not in plain:
        wrong += [True, False, "12"]
    if bool in plain and int not in plain:
        wrong += [1, 0, "true"]
    return wrong


FIELDS = list(_scalar_fields())


def test_there_are_integer_and_boolean_fields_to_check() -> None:
    assert len(FIELDS) >= 10


@pytest.mark.parametrize(("where", "annotation", "plain"), FIELDS, ids=[f[0] for f in FIELDS])
def test_a_field_refuses_the_other_json_type(where: str, annotation: Any, plain: set[Any]) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for value in _wrong_values(plain):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_the_check_catches_a_lax_integer() -> None:
    class Lax(BaseModel):
        count: int

    with pytest.raises(ValidationError):
        TypeAdapter(StrictInt).validate_python(True)
    Lax.model_validate({"count": True})  # what the test above exists to refuse
