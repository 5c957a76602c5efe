"""`OptionSpec`: one command-line option's flag, default, help and check, defined once, and what is
built from it: click options (`click_options`), typed settings objects (`settings_from`) and locust
arguments with the same check (`OptionSpec.convert`, `OptionSpec.add_to`).

A settings class is a frozen dataclass whose fields declare their option with `option(SPEC)`:

    @dataclass(frozen=True)
    class RunSettings:
        max_tokens: int = option(MAX_TOKENS)
        workload: WorkloadSettings = nested(WorkloadSettings)   # its options stand here

`@click_options(RunSettings)` adds the click options in field order; `settings_from(RunSettings,
click_values)` builds the object from what click parsed (nested settings from the same flat values).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from loadgen.errors import ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_OPTION = "option"


@dataclass(frozen=True)
class OptionSpec:
    """One option: `flags` as click takes them (`--stream/--no-stream`), the value's name (`dest`), its
    click type (which is also the check: `IntRange(min=1)` rejects 0 on the command line and in
    locust's web UI alike), default and help."""

    flags: tuple[str, ...]
    dest: str
    type: click.ParamType[Any] | None = None
    """None: text."""
    default: Any = None
    help: str | None = None
    is_flag: bool = False
    multiple: bool = False
    callback: Callable[[click.Context, click.Parameter, Any], Any] | None = None

    @property
    def value_default(self) -> Any:
        """The default as the option's value (a text default, e.g. `1,4,16`, converted by the type)."""
        if isinstance(self.default, str) and self.type is not None:
            return self.type.convert(self.default, None, None)
        return self.default

    @property
    def flag(self) -> str:
        """The option's main flag, e.g. `--max-tokens`."""
        return self.flags[0].split("/")[0]

    def but(self, **changes: Any) -> OptionSpec:
        """A copy with other settings (a command's deliberate variant of a shared option)."""
        return dataclasses.replace(self, **changes)

    def click_option(self, default: Any = dataclasses.MISSING) -> Callable[[F], F]:
        """The click option (`default` replaces the spec's, e.g. `loadgen demo`'s)."""
        kwargs: dict[str, Any] = {
            "default": self.default if default is dataclasses.MISSING else default,
            "help": self.help,
            "show_default": True,
        }
        if self.type is not None:
            kwargs["type"] = self.type
        if self.is_flag:
            kwargs["is_flag"] = True
        if self.multiple:
            kwargs["multiple"] = True
        if self.callback is not None:
            kwargs["callback"] = self.callback
        return click.option(*self.flags, self.dest, **kwargs)

    def convert(self, raw: Any) -> Any:
        """A value given as text (locust's command line or web UI form) checked as the click option
        checks it; an empty field takes the default. ConfigError with click's one-line message."""
        if isinstance(raw, bool) and self.is_flag:
            return raw
        text = "" if raw is None else str(raw).strip()
        if not text:
            return self.value_default
        kind = click.BOOL if self.is_flag else self.type
        if kind is None:
            return text
        try:
            return kind.convert(text, None, None)
        except click.BadParameter as exc:
            message = click.BadParameter(exc.message, param_hint=f"'{self.flag}'").format_message()
            raise ConfigError(message) from None

    def add_to(self, parser: Any, **extra: Any) -> None:
        """Add this option to an argparse-style parser (locust's; its web UI shows it as a text field)."""
        if self.is_flag:
            parser.add_argument(
                self.flag, action="store_true", default=bool(self.default), help=self.help, **extra
            )
            return
        default = "" if self.default is None else str(self.default)
        parser.add_argument(self.flag, default=default, help=self.help, **extra)


def option(spec: OptionSpec) -> Any:
    """A settings field declared by `spec` (its default is the spec's)."""
    return field(default=spec.value_default, metadata={_OPTION: spec})


def nested(cls: type[Any]) -> Any:
    """A settings field holding another settings object, whose options stand at this place."""
    return field(default_factory=cls)


def spec_of(item: dataclasses.Field[Any]) -> OptionSpec | None:
    """The option a settings field declares, if any."""
    spec = item.metadata.get(_OPTION)
    return spec if isinstance(spec, OptionSpec) else None


def _is_settings(item: dataclasses.Field[Any]) -> bool:
    return item.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(item.default_factory)


def option_specs(cls: type[Any]) -> list[OptionSpec]:
    """Every option of a settings class, nested ones in place, in field order."""
    specs: list[OptionSpec] = []
    for item in dataclasses.fields(cls):
        if _is_settings(item):
            specs.extend(option_specs(item.default_factory))  # type: ignore[arg-type]
        elif (spec := spec_of(item)) is not None:
            specs.append(spec)
    return specs


def click_options(
    cls: type[Any],
    *,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Add the click options of a settings class to a command, in field order.

    `only`/`skip` choose options by `dest`; `defaults` replaces some defaults (a command's own)."""
    chosen = [s for s in option_specs(cls) if (only is None or s.dest in only) and s.dest not in skip]
    if only is not None and (missing := set(only) - {s.dest for s in chosen}):
        raise ValueError(f"no such option in {cls.__name__}: {', '.join(sorted(missing))}")
    given = defaults or {}

    def decorate(func: F) -> F:
        for spec in reversed(chosen):
            func = spec.click_option(given.get(spec.dest, dataclasses.MISSING))(func)
        return func

    return decorate


def _keys(cls: type[Any]) -> set[str]:
    keys: set[str] = set()
    for item in dataclasses.fields(cls):
        if _is_settings(item):
            keys |= _keys(item.default_factory)  # type: ignore[arg-type]
        else:
            spec = spec_of(item)
            keys.add(spec.dest if spec is not None else item.name)
    return keys


def _build(cls: type[T], values: Mapping[str, Any]) -> T:
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if _is_settings(item):
            kwargs[item.name] = _build(item.default_factory, values)  # type: ignore[arg-type]
            continue
        spec = spec_of(item)
        key = spec.dest if spec is not None else item.name
        if key in values:
            value = values[key]
            if spec is not None and spec.type is not None and isinstance(value, str):
                value = spec.type.convert(value, None, None)  # a text default (`DEMO_DEFAULTS`) or value
            kwargs[item.name] = value
    return cls(**kwargs)


def settings_from(cls: type[T], values: Mapping[str, Any]) -> T:
    """The settings object of `values` keyed by option `dest` (what click passes a command), nested
    settings filled from the same values; a field not given keeps its default. A key no field takes
    is a programming error (an option without a home), raised as TypeError."""
    unknown = set(values) - _keys(cls)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field for {', '.join(sorted(unknown))}")
    return _build(cls, values)
