"""What a plugin provides, typed: one contract per `cpoms_register_*` hook (docs/plugins.md).

A contract is a runtime-checkable Protocol naming every member the kit uses, and for the kinds with
optional members a base class holding their defaults. A plugin's class may inherit that base (the
built-ins do) or not: an object registered without it is given the defaults it lacks when it is
collected (`Contract.complete`), so the kit calls `channel.accepts(...)` and reads `rule.settings`
on every registered object instead of probing each one with getattr.

Categories, entry types and pupil flags are plain data, registered as the dataclasses below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from inspect import isfunction
from operator import attrgetter
from types import MappingProxyType, MethodType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Iterable, Mapping, Protocol, TypeVar
from typing import runtime_checkable

from cpoms_kit import hookspecs

if TYPE_CHECKING:  # types only: these modules sit above the plugin host, which never imports them
    from cpoms_kit.model import Staff
    from cpoms_kit.policy.alerts import Alert, ChannelContext
    from cpoms_kit.policy.deadlines import EntryView, Finding
    from cpoms_kit.policy.lint import LintContext, LintFinding, WordList
    from cpoms_kit.site.content import SiteView

Settings = Mapping[str, Any]
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

NO_SETTINGS: Settings = MappingProxyType({})


class Register(Protocol[T_contra]):
    """The callback each `cpoms_register_*` hook is given: once per item; `replace=True` overrides
    an item of the same key from a plugin loaded earlier."""

    def __call__(self, item: T_contra, /, replace: bool = False) -> None: ...


# -- data: categories and entry types --------------------------------------------------------------
@dataclass(frozen=True)
class Category:
    name: str
    subcategories: tuple[str, ...] = ()
    guidance: str = ""
    high_priority_available: bool = True


@dataclass(frozen=True)
class EntryType:
    name: str
    description: str
    needs_category: bool = False
    # Kinds an entry of this type must name with --action (empty: the type takes no --action).
    kinds: tuple[str, ...] = ()
    # False for a type a command makes (`cpoms request open`, `cpoms case mark`): `cpoms new`'s
    # template offers only the types a person records by hand.
    by_hand: bool = True


@dataclass(frozen=True)
class PupilFlag:
    """A flag a pupil may carry in the roster (`cpoms pupil set --flag ID`): `id` in lowercase
    letters, digits and -, `label` as a DSL reads it, `description` what it means and where it
    comes from (the MIS, the local authority, the DSL team)."""

    id: str
    label: str
    description: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.id):
            raise ValueError(f"pupil flag id {self.id!r} must be lowercase letters, digits and single hyphens")


class Described(Protocol):
    """What a rule or a lint check is known by, and what it checks, in a sentence."""

    @property
    def id(self) -> str: ...
    @property
    def description(self) -> str: ...


# -- deadline rules --------------------------------------------------------------------------------
@runtime_checkable
class DeadlineRule(Described, Protocol):
    """Run by `cpoms check` on a read-only view of the decrypted entries; writes nothing."""

    @property
    def settings(self) -> Settings:
        """What `[deadlines.<id>]` may hold: {key: str | int | float | bool | date | a config Kind}."""
    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> Iterable[Finding]: ...


class RuleBase:
    """The optional members' defaults for a deadline rule: it takes no settings."""

    settings: ClassVar[Settings] = NO_SETTINGS


# -- alert channels --------------------------------------------------------------------------------
@runtime_checkable
class AlertChannel(Protocol):
    """Sends one alert (ids and kinds, never names or text) to the recipients. A channel whose
    `wants_context` is true is also passed `context=` (a ChannelContext: the store and the entry)."""

    @property
    def name(self) -> str: ...
    @property
    def settings(self) -> Settings:
        """What `[alerts.<name>]` may hold besides the keys every channel takes."""
    @property
    def wants_context(self) -> bool: ...
    def accepts(self, alert: Alert, settings: Settings) -> tuple[bool, str]:
        """(False, why) to skip this alert on this channel (a shared screen and a governor's alert)."""
    def reaches(self, recipients: list[Staff], settings: Settings) -> list[str]:
        """The ids of the recipients it would reach wherever they are: none for a channel that only
        writes on this machine (a log file, this screen). `cpoms add` warns when nobody is reached."""
    def send(self, alert: Alert, recipients: list[Staff], settings: Settings) -> None: ...


class ContextChannel(Protocol):
    """How an `AlertChannel` whose `wants_context` is true is called: with the store and the entry."""

    def send(self, alert: Alert, recipients: list[Staff], settings: Settings, *, context: ChannelContext) -> None: ...


class ChannelBase:
    """The optional members' defaults for an alert channel: no settings of its own, no context,
    every alert accepted, and every recipient reached."""

    settings: ClassVar[Settings] = NO_SETTINGS
    wants_context: ClassVar[bool] = False

    def accepts(self, alert: Alert, settings: Settings) -> tuple[bool, str]:
        return True, ""

    def reaches(self, recipients: list[Staff], settings: Settings) -> list[str]:
        return [person.id for person in recipients]


# -- recording-quality checks and the word lists they read ---------------------------------------
@runtime_checkable
class LintCheck(Described, Protocol):
    """Marks a draft before it is committed; reads the writer's words, never writes."""

    def check(self, draft: Any, ctx: LintContext) -> Iterable[LintFinding]: ...


@runtime_checkable
class WordListSpec(Protocol):
    """Phrases added to a named list the checks read: register a `cpoms_kit.policy.lint.WordList`."""

    @property
    def id(self) -> str: ...
    @property
    def extends(self) -> str: ...
    @property
    def entries(self) -> tuple[str, ...]: ...


# -- site reports ----------------------------------------------------------------------------------
@runtime_checkable
class Report(Protocol):
    """A page of the chronology site (team password): Markdown, or finished escaped HTML if `html`."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def html(self) -> bool: ...
    def render(self, view: SiteView, now: datetime, findings: list[Finding]) -> str: ...


class ReportBase:
    """The optional member's default for a report: it returns Markdown."""

    html: bool = False


# -- secrets the records repository holds ---------------------------------------------------------
@dataclass(frozen=True)
class Revoked:
    """What a secret's `revoke` keeps: the plaintext to encrypt to the remaining readers, and a
    notice told once to whoever ran the command (a new password to hand out), or ""."""

    plaintext: bytes
    notice: str = ""


@dataclass(frozen=True)
class Merged:
    """What a secret's `merge` keeps when two machines changed it before syncing: the plaintext to
    encrypt to its readers, and one line for whoever ran `cpoms sync` (what was dropped), or ""."""

    plaintext: bytes
    notice: str = ""


@runtime_checkable
class RepositorySecret(Protocol):
    """A file of the records repository encrypted (OpenPGP) to the people who may read it. The kit
    re-encrypts it to `readers(staff)` (those with a usable key) after every staff change and in
    `cpoms reencrypt`; the plaintext is kept byte for byte unless someone who could read it may no
    longer, when `revoke` says what to keep instead."""

    @property
    def path(self) -> str:
        """The key: a path relative to the repository's root, "/" separated; `*` matches any name
        within one folder (`myplugin/*.gpg`). Never under entries/."""
    @property
    def description(self) -> str: ...
    def readers(self, staff: Mapping[str, Staff]) -> Iterable[Staff]:
        """Who may read it now, from the staff roster (id -> Staff, those who left included)."""
    def revoke(self, plaintext: bytes, lost: list[Staff], now: datetime) -> Revoked:
        """`lost` could read it and may no longer (left, or not in the role): what to keep now."""
    def merge(self, base: bytes | None, here: bytes, remote: bytes) -> Merged | None:
        """`cpoms sync`: this machine's change (`here`) and the remote's (`remote`) since `base`
        (None: the file was new on both sides), as one plaintext; None when they cannot be merged
        (sync then refuses, as for a roster changed on both sides)."""


class SecretBase:
    """The optional members' defaults for a secret: the plaintext is kept as it is; two machines'
    changes are not merged."""

    def revoke(self, plaintext: bytes, lost: list[Staff], now: datetime) -> Revoked:
        return Revoked(plaintext)

    def merge(self, base: bytes | None, here: bytes, remote: bytes) -> Merged | None:
        return None


# -- entry fields ----------------------------------------------------------------------------------
@runtime_checkable
class EntryField(Described, Protocol):
    """A structured part of an entry (the body map): filled by a repeatable `cpoms add --<option>`,
    kept in the encrypted front matter as `id`, shown in the chronology and the disclosure pack."""

    @property
    def option(self) -> str: ...
    @property
    def example(self) -> str:
        """One value of the option, as `cpoms new`'s template shows it (optional: "")."""
    def parse(self, texts: list[str]) -> Any:
        """The option's values (one per use) as the field's value; InputError for a bad one."""
    def check(self, value: Any) -> Any:
        """A value from front matter or a template, checked and normalised; InputError if bad."""
    def html(self, value: Any) -> str:
        """The value as finished, escaped HTML (an inline SVG, a list)."""
    def words(self, value: Any) -> list[str]:
        """Every word of it a person wrote, as text: the leak scan reads these as entry text."""


class EntryFieldBase:
    """The optional member's default for an entry field: no example in the template."""

    example = ""


# -- one contract per hook -------------------------------------------------------------------------
@dataclass(frozen=True)
class Contract(Generic[T]):
    """What one `cpoms_register_*` hook's items are: how each is known, what it must be, the
    defaults of its optional members, and whether a plugin failing in it stops the command."""

    spec: Callable[..., Any]  # the hookspec in cpoms_kit.hookspecs
    key: str  # the member an item is registered under
    kinds: tuple[type, ...]  # an item is an instance of one of these
    defaults: type | None = None
    strict: bool = False
    optional: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = () if self.defaults is None else tuple(n for n in vars(self.defaults) if not n.startswith("__"))
        object.__setattr__(self, "optional", names)

    @property
    def hook(self) -> str:
        return self.spec.__name__

    @property
    def label(self) -> str:
        """What `cpoms plugins` calls the items: "deadline rules" for cpoms_register_deadline_rules."""
        return self.hook.removeprefix("cpoms_register_").replace("_", " ")

    def key_of(self, item: Any) -> str:
        return attrgetter(self.key)(item)

    def satisfied_by(self, item: Any) -> bool:
        return isinstance(item, self.kinds)

    def complete(self, item: Any) -> T:
        """`item` itself, or a stand-in adding the defaults of the optional members it lacks.
        A member set to None counts as missing, as it always has (`accepts = None`: no check)."""
        if self.defaults is None:
            return item
        missing = [n for n in self.optional if getattr(item, n, None) is None]
        return _WithDefaults(item, self.defaults, missing) if missing else item  # type: ignore[return-value]


class _WithDefaults:
    """A registered object without some optional members: the contract's defaults for those,
    the object itself for everything else."""

    def __init__(self, item: Any, defaults: type, names: list[str]) -> None:
        self.__dict__["_item"] = item
        for name in names:
            value = vars(defaults)[name]
            self.__dict__[name] = MethodType(value, self) if isfunction(value) else value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_item"], name)

    def __repr__(self) -> str:
        return repr(self.__dict__["_item"])


CATEGORIES: Contract[Category] = Contract(hookspecs.cpoms_register_categories, "name", (Category,), strict=True)
ENTRY_TYPES: Contract[EntryType] = Contract(hookspecs.cpoms_register_entry_types, "name", (EntryType,), strict=True)
DEADLINE_RULES: Contract[DeadlineRule] = Contract(hookspecs.cpoms_register_deadline_rules, "id",
                                                  (DeadlineRule,), RuleBase)
ALERT_CHANNELS: Contract[AlertChannel] = Contract(hookspecs.cpoms_register_alert_channels, "name",
                                                  (AlertChannel,), ChannelBase)
LINT_CHECKS: Contract[LintCheck | WordList] = Contract(hookspecs.cpoms_register_lint_checks, "id",
                                                       (LintCheck, WordListSpec))
REPORTS: Contract[Report] = Contract(hookspecs.cpoms_register_reports, "id", (Report,), ReportBase)
# Strict: a secret a broken plugin failed to register would stay readable by someone who left.
SECRETS: Contract[RepositorySecret] = Contract(hookspecs.cpoms_register_secrets, "path", (RepositorySecret,),
                                               SecretBase, strict=True)
# Strict: a flag a broken plugin failed to register would be refused, or dropped from a pupil.
PUPIL_FLAGS: Contract[PupilFlag] = Contract(hookspecs.cpoms_register_pupil_flags, "id", (PupilFlag,), strict=True)

# Strict: an entry's marks must never be recorded by half a plugin.
ENTRY_FIELDS: Contract[EntryField] = Contract(hookspecs.cpoms_register_entry_fields, "id", (EntryField,),
                                              EntryFieldBase, strict=True)

CONTRACTS: dict[str, Contract[Any]] = {c.hook: c for c in (
    CATEGORIES, ENTRY_TYPES, DEADLINE_RULES, ALERT_CHANNELS, LINT_CHECKS, REPORTS, SECRETS, PUPIL_FLAGS,
    ENTRY_FIELDS)}
