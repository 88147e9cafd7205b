"""The base of every ``params.yaml`` section (:mod:`mcdropout.core.config`): frozen, no unknown keys."""

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from mcdropout.core.constraints import bad


class Section(BaseModel):
    """Frozen, no unknown keys; an empty section (``train:`` in YAML) means all defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: Any) -> Any:
        if raw is None:
            return {}
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, dict):
            raise bad("a mapping")
        unknown = sorted(set(map(str, raw)) - set(cls.model_fields))
        if unknown:
            known = ", ".join(sorted(cls.model_fields))
            raise PydanticCustomError("unknown_keys", "unknown key(s) {unknown}; known: {known}",
                                      {"unknown": ", ".join(unknown), "known": known})
        return raw
