"""Hyper-parameter tables as pydantic models: the one validation system of optimizers, learning-rate
schedules and initializers (the same as the scenarios').

Each optimizer, schedule and initializer is a :class:`Hyper` model whose fields are its
hyper-parameters, declared once with PyTorch's name, default, allowed range and a description;
``dynet schema`` shows them and a misspelled key gets the usual "unknown key (did you mean ...)".

Run ids hash a run's resolved config, so a table dumps what the user wrote and nothing more: the
keys the user set (plus ``name`` and the :attr:`Hyper.ALWAYS` keys), each value with the type it was
given (:data:`Real` keeps an int an int). :meth:`Hyper.resolved` gives every value, defaults
included and numbers as floats, for computing.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, ClassVar, Union

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    ValidationError,
    WrapValidator,
    model_serializer,
    model_validator,
)
from typing_extensions import TypeAliasType


def _keep_int(value, handler):
    if isinstance(value, np.generic):
        value = value.item()
    out = handler(value)
    return value if type(value) is int else out


_AS_GIVEN = (WrapValidator(_keep_int), PlainSerializer(lambda v: v, return_type=Any))

#: A real hyper-parameter: a finite float or int (bools refused); an int stays an int in the dump.
Real = Annotated[float, *_AS_GIVEN]


def real(**bounds):
    """:data:`Real` within ``bounds`` (``ge``, ``gt``, ``le``, ``lt``), for items of a tuple (a field
    takes them in its ``Field``)."""
    return Annotated[float, Field(**bounds), *_AS_GIVEN]


def _is_real(annotation) -> bool:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return any(_is_real(a) for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is Annotated:
        return typing.get_args(annotation)[0] is float
    return annotation is float


class Hyper(BaseModel):
    """Base of a hyper-parameter table (``name`` and the parameters)."""

    # dynet.config.Strict's settings (not imported: dynet.config imports the schedules)
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    #: keys dumped even when the user left them to their default (besides ``name``)
    ALWAYS: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data, handler):
        # an unknown key does not hide the cross-parameter checks of the keys that are known
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            if not isinstance(data, dict) or not all(e["type"] == "extra_forbidden" for e in errors):
                raise
            known = {k: v for k, v in data.items() if k in cls.model_fields}
            try:
                cls.model_validate(known)
            except ValidationError as more:
                errors += more.errors()
            details = [
                {"type": e["type"], "loc": e["loc"], "input": e["input"], **({"ctx": e["ctx"]} if "ctx" in e else {})}
                for e in errors
            ]
            raise ValidationError.from_exception_data(exc.title, details) from None

    @model_serializer(mode="wrap")
    def _as_given(self, handler):
        out = handler(self)
        keep = self.model_fields_set | {"name", *self.ALWAYS}
        return {k: v for k, v in out.items() if k in keep}

    @classmethod
    def parameters(cls) -> tuple[str, ...]:
        """The hyper-parameter names in declaration order (``name`` and :attr:`ALWAYS` keys excluded)."""
        return tuple(k for k in cls.model_fields if k != "name" and k not in cls.ALWAYS)

    @classmethod
    def defaults(cls) -> dict:
        """Each hyper-parameter's default (:data:`REQUIRED` where it has none)."""
        return {
            k: (REQUIRED if cls.model_fields[k].is_required() else cls.model_fields[k].default)
            for k in cls.parameters()
        }

    def resolved(self) -> dict:
        """Every hyper-parameter, defaults filled in, real numbers as ``float`` (pairs as tuples of floats)."""
        out = {}
        for k in self.parameters():
            value = getattr(self, k)
            ann = type(self).model_fields[k].annotation
            if value is not None and _is_real(ann):
                value = float(value)
            elif isinstance(value, tuple):
                value = tuple(float(v) for v in value)
            elif isinstance(value, list):
                value = list(value)
            out[k] = value
        return out


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
"""What :meth:`Hyper.defaults` gives for a hyper-parameter without a default (e.g. SGD's ``lr``)."""


def problems(cls: type[Hyper], doc: Any) -> list[str]:
    """One line per problem in ``doc`` for table ``cls`` (``format_error``'s lines); ``[]`` when valid."""
    from dynet.config import format_error

    try:
        cls.model_validate(doc)
    except ValidationError as exc:
        return [format_error(cls, e) for e in exc.errors()]
    return []


def build(cls: type[Hyper], doc: Any, what: str = "") -> Hyper:
    """``cls`` validated from ``doc``; ``ValueError`` listing every problem (prefixed ``what.``)."""
    from dynet.config import format_error

    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        pre = f"{what}." if what else ""
        raise ValueError("\n".join(pre + format_error(cls, e) for e in exc.errors())) from None


def name_of(cls: type[Hyper]) -> str:
    return typing.get_args(cls.model_fields["name"].annotation)[0]


def unknown_name(name: Any, known, what: str) -> str:
    """``"name: unknown optimizer 'adma' (did you mean 'adam'?)"``."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
    return f"name: unknown {what} {name!r}{hint}"


def tagged_union(type_name: str, classes: dict[str, type[Hyper]], default: str):
    """The type of a table that is one of ``classes`` (name -> class), chosen by its ``name``
    (``default`` when it has none). An unknown name is pydantic's ``union_tag_invalid`` error, which
    ``format_error`` completes with a did-you-mean. A named type alias (``type_name``), so that a field
    reusing another model's ``FieldInfo`` does not apply the discriminator twice."""

    def name(value):
        if isinstance(value, dict):
            return value.get("name", default)
        return getattr(value, "name", default)

    members = tuple(Annotated[cls, Tag(n)] for n, cls in classes.items())
    return TypeAliasType(type_name, Annotated[Union[members], Discriminator(name)])  # noqa: UP007 - a tuple built at run time
