"""Switched features: a feature with an on/off key is a discriminated union, not a bool beside it.

``cicd:canary`` (``enabled``) and ``cicd:pipeline.scanners`` (``sonarqube``) keep their documented
flat keys in the stack file, but what config hands the program is one of two types: the on
variant carries the feature's settings (a canary's steps, SonarQube's server URL) as required,
typed fields; the off variant carries none of them. Code that needs the settings has to narrow
first (``isinstance(s.canary, CanaryOn)``), so "the flag says off but the steps are read" or
"SonarQube on without a URL" cannot be written.

Settings written under a switched-off feature are still validated (a typo fails whether the
feature is on or off) and set aside in the off variant's ``unused`` field, which only the
warning reads: switching a feature off is one key, switching it back on restores them, and the
render warns which keys are ignored meanwhile. A switch that is not ``true``/``false`` is
reported on the off variant's boolean field ("must be true or false").

Pydantic reports errors inside a tagged union under the tag and, for set-aside keys, under
``unused``; :data:`TRANSPARENT_LOC` lists those parts so that messages name the key as written
(``cicd:canary.steps[2].weight``, not ``cicd:canary.on.steps[2].weight``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from pydantic import AfterValidator, Discriminator, model_validator

from components.config.fields import ConfigModel

ON: Final = "switched-on"
OFF: Final = "switched-off"
UNUSED: Final = "unused"
TRANSPARENT_LOC: Final = frozenset({ON, OFF, UNUSED})
"""Parts of a pydantic error location that are not keys of the stack file."""


def is_switched(expected: bool) -> AfterValidator:
    """The switch field of a variant: the discriminator routes by it, so this only guards
    direct construction in code (``CanaryOn(enabled=False)`` is refused)."""

    def check(value: bool) -> bool:
        if value is not expected:
            raise ValueError(f"must be {str(expected).lower()} here")
        return value

    return AfterValidator(check)


def by_switch(on: type[ConfigModel], off: type[SwitchedOff]) -> Discriminator:
    """Tells ``on`` from ``off`` by the stack file's boolean ``off.SWITCH``; use as
    ``Annotated[Annotated[On, Tag(ON)] | Annotated[Off, Tag(OFF)], by_switch(On, Off)]``.

    ``<SWITCH>: true`` selects ``on``, and so does an absent switch where ``off.ON_BY_DEFAULT``;
    otherwise (absent, ``false``, a wrong type) ``off``, whose own boolean field then reports a
    wrong type.
    """

    def pick(value: Any) -> str:
        if isinstance(value, on):
            return ON
        if isinstance(value, off):
            return OFF
        if isinstance(value, Mapping) and value.get(off.SWITCH, off.ON_BY_DEFAULT) is True:
            return ON
        return OFF

    return Discriminator(pick)


class SwitchedOff(ConfigModel):
    """Base of an off variant: keys that are not its own fields move into ``unused``.

    A subclass declares its own fields (the switch, and settings shared with the on variant such
    as Trivy's severity) and ``unused: <model of the on-only settings, all optional> | None``.
    """

    SWITCH: ClassVar[str]
    """The stack-file key of the switch (``enabled``, ``sonarqube``)."""
    ON_BY_DEFAULT: ClassVar[bool] = False
    """Whether an absent switch means on (canary analysis); the off variant then requires it."""

    @model_validator(mode="before")
    @classmethod
    def _set_aside(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        own: set[str] = set()
        for name, info in cls.model_fields.items():
            if name != UNUSED:
                own |= {name, info.alias or name}
        kept = {k: v for k, v in data.items() if k in own}
        rest = {k: v for k, v in data.items() if k not in own and k != UNUSED}
        if UNUSED in data:
            rest[UNUSED] = data[UNUSED]  # reported as an unknown key of the on-only settings
        return {**kept, UNUSED: rest} if rest else kept

    def ignored_keys(self) -> tuple[str, ...]:
        """Stack-file keys written under this switched-off feature (camelCase, sorted)."""
        unused = getattr(self, UNUSED, None)
        if not isinstance(unused, ConfigModel):
            return ()
        fields = type(unused).model_fields
        return tuple(sorted(fields[name].alias or name for name in unused.model_fields_set))
