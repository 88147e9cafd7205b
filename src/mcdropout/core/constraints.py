"""Constrained types of the configuration: what each key allows, in words and in checks.

Each type carries the wording of what it allows, so that whichever check fails, the error reads
``section.key must be <allowed>, got <value>`` (:mod:`mcdropout.core.config` turns pydantic's errors into that line).
Ints reject bools and floats must be finite, everywhere.
"""

from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.functional_validators import AfterValidator, BeforeValidator, WrapValidator
from pydantic_core import PydanticCustomError, ValidationError


def bad(allowed: str) -> PydanticCustomError:
    return PydanticCustomError("config", "must be {allowed}", {"allowed": allowed})


def allowing(text: str) -> WrapValidator:
    """Report any failure of the wrapped type as ``must be <text>`` (a list item's own report wins)."""

    def check(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            kind = exc.errors()[0]["type"]
            if kind == "config":
                raise
            raise bad("a finite number" if kind == "finite_number" else text) from None

    return WrapValidator(check)


def _int(minimum: int, maximum: int | None = None) -> Any:
    if maximum is None:
        return Annotated[int, Field(strict=True, ge=minimum), allowing(f"an integer >= {minimum}")]
    return Annotated[int, Field(strict=True, ge=minimum, le=maximum),
                     allowing(f"an integer in [{minimum}, {maximum:_}]".replace("_", ","))]


def _number(allowed: str, **bounds: float) -> Any:
    return Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds), allowing(allowed)]


def one_of(choices: tuple[str, ...]) -> Any:
    return Annotated[Literal[choices], allowing(f"one of {', '.join(choices)}")]


def _distinct(values: tuple) -> tuple:
    if len(set(values)) != len(values):
        raise bad("a list without repeated values")
    return values


def list_of(item: Any, allowed: str) -> Any:
    return Annotated[tuple[item, ...], Field(min_length=1), allowing(f"a non-empty list of {allowed}"),
                     AfterValidator(_distinct)]


def _distinct_names(values: tuple) -> tuple:
    """Rates and weight decays name members' files and runs by ``{value:g}`` (6 significant digits): values
    that print alike would train twice and save once."""
    seen: dict[str, float] = {}
    for v in values:
        if f"{v:g}" in seen:
            raise bad(f"a list of values that differ in their first 6 significant digits ({seen[f'{v:g}']!r} and "
                       f"{v!r} both name members '{v:g}')")
        seen[f"{v:g}"] = v
    return values


def grid_of(item: Any, allowed: str) -> Any:
    return Annotated[list_of(item, allowed), AfterValidator(_distinct_names)]


Count = _int(1)
Rows = _int(1, 10_000_000)  # rows a generator makes: more would not fit in memory as CSV text
Natural = _int(0)
Seed = _int(0, 2**32 - 1)  # what numpy's and torch's generators take
# T of MC dropout at most: 10x the UCI protocol's 10,000. Sampling runs in blocks (memory does not grow with T);
# this bounds the time one request or command can take.
MAX_SAMPLES = 100_000
Samples = _int(1, MAX_SAMPLES)
Rate = _number("in [0, 1)", ge=0, lt=1)
OpenUnit = _number("in (0, 1)", gt=0, lt=1)
Positive = _number("a number > 0", gt=0)
NonNegative = _number("a number >= 0", ge=0)
Coordinate = _number("a number in [-1e6, 1e6]", ge=-1e6, le=1e6)
Noise = _number("a number in [0, 1e6]", ge=0, le=1e6)  # larger: targets beyond float32


def _no_nul(text: str) -> str:
    if "\x00" in text:  # no file name can hold one
        raise bad("a string without NUL characters")
    return text


Text = Annotated[str, Field(strict=True, min_length=1), allowing("a non-empty string"), AfterValidator(_no_nul)]
Switch = Annotated[bool, Field(strict=True), allowing("true or false")]
StrictInt = Annotated[int, Field(strict=True)]
DeviceIds = Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=1), AfterValidator(_distinct)]
Devices = Annotated[Literal["auto"] | Annotated[StrictInt, Field(ge=1)] | DeviceIds,
                    allowing("'auto', an integer >= 1 or a non-empty list of distinct device ids >= 0")]
Hidden = Annotated[tuple[Annotated[StrictInt, Field(ge=1)], ...], Field(min_length=1),  # an int: one hidden layer
                   BeforeValidator(lambda v: [v] if type(v) is int else v),
                   allowing("a non-empty list of integers >= 1")]


