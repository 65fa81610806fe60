"""Messages in the user's language: Chinese under a Chinese locale, English otherwise.

The ecosystem's way: messages are written in English in the code, marked with ``_()``, extracted
with Babel into ``gridmap/locale/gridmap.pot`` and translated in
``gridmap/locale/zh_CN/LC_MESSAGES/gridmap.po``; the compiled ``.mo`` ships with the package and
gettext reads it. ``GRIDMAP_LANG=zh|en`` overrides the locale (``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``). The language is read when a message is translated, so a test or a
notebook may switch it at any time.

What is translated: everything a user reads on the console — help texts, summaries, table titles
and headers, notes, ``GridmapError`` messages, warnings (with their titles, ``gridmap.errors``) —
and the ``gridmap init`` template. Write the message in English inside ``_()``, values as named
``str.format`` fields after the call (``_("{path}: no such file.").format(path=p)``), never an
f-string inside ``_()``. A code shown to a user (a situation, a unit kind, a status) is shown as its
``gridmap.vocab`` label under Chinese (:func:`term`), never translated here a second time.
What is not: log messages (``log.info``, ``log.warning``) are for developers and stay English; CSV
and GeoPackage outputs keep English column names and codes (scripts rely on them); workbooks, maps
and the report are Chinese whatever the locale.

To update the catalogue after changing messages (from the repository root)::

    pybabel extract -F gridmap/locale/babel.cfg -k _ -k N_ --no-location --sort-output \
        --project=gridmap --version=0.1.0 --copyright-holder=gridmap -o gridmap/locale/gridmap.pot gridmap
    pybabel update -i gridmap/locale/gridmap.pot -d gridmap/locale -D gridmap -l zh_CN --no-fuzzy-matching
    (translate the new entries of gridmap.po; remove the entries marked obsolete, #~)
    pybabel compile -d gridmap/locale -D gridmap

(Without locations and sorted by message, the catalogue changes only where messages do, and branches
that add messages merge cleanly.) ``tests/test_i18n.py`` fails while a message of the code is missing
from the catalogue, untranslated, fuzzy, or not compiled into the ``.mo``. Translations use the
domain's words (小区, 网格, 微网格, 拉平对齐, 户数, 图层, 字段, 坐标系 …); the labels of codes are not
translated here but taken from ``gridmap.vocab`` (:func:`term`). A message whose translation must
keep a shape the code relies on says so in a comment beside it (``fewer than {count} members``).
"""

from __future__ import annotations

import functools
import gettext
import os
import re
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "gridmap"
LANGUAGES = ("zh", "en")


def language() -> str:
    """``"zh"`` or ``"en"``: ``GRIDMAP_LANG`` when set, else the locale's language."""
    forced = os.environ.get("GRIDMAP_LANG", "").strip().lower()[:2]
    if forced in LANGUAGES:
        return forced
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "").strip()
        if value:
            return "zh" if value.split(":")[0].lower().startswith("zh") else "en"
    return "en"


@functools.lru_cache(maxsize=None)
def _catalogue(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=["zh_CN"], fallback=True)


def _(message: str) -> str:
    """``message`` in the user's language (the English text where no translation exists)."""
    return _catalogue(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the user's language."""
    return _catalogue(language()).ngettext(singular, plural, n)


def term(code, label) -> str:
    """How a code reads on the console: its Chinese ``label`` (from ``gridmap.vocab``) under Chinese,
    the code itself under English."""
    return str(label) if language() == "zh" else str(code)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet (tables of messages)."""
    return message


#: What typer and click print of their own (help panels, usage errors), as they write it: click calls
#: gettext's default domain, which holds nothing, and typer's own copy of click (``typer._click``)
#: calls no gettext at all, so :func:`translate_libraries` routes these through gridmap's catalogue.
LIBRARY_MESSAGES = (
    N_("Usage:"), N_("Show this message and exit."), N_("Arguments"), N_("Options"), N_("Commands"), N_("Error"),
    N_("[default: {}]"), N_("[required]"), N_("Aborted."),
    N_("Try [blue]'{command_path} {help_option}'[/] for help."),
    # The types typer shows beside each option.
    N_("<str>"), N_("<list[str]>"), N_("<float>"), N_("<int>"), N_("<bool>"), N_("<path>"),
)
#: Usage errors of typer's click as it writes them (a pattern) and as the catalogue has them.
USAGE_ERRORS = (
    (r"Missing argument (?P<hint>.+)\.", N_("Missing argument {hint}.")),
    (r"Missing option (?P<hint>.+)\.", N_("Missing option {hint}.")),
    (r"Missing parameter: (?P<hint>.+)", N_("Missing parameter: {hint}")),
    (r"No such option: (?P<name>\S+) \(Possible options: (?P<options>.+)\)",
     N_("No such option: {name} (Possible options: {options})")),
    (r"No such option: (?P<name>.+)", N_("No such option: {name}")),
    (r"No such command (?P<name>.+?)\.", N_("No such command {name}.")),
    (r"Missing command\.", N_("Missing command.")),
    (r"Got unexpected extra argument\(s\) \((?P<args>.*)\)", N_("Got unexpected extra argument(s) ({args})")),
    (r"Invalid value for (?P<hint>.+?): Input should be a valid integer, unable to parse string as an integer",
     N_("Invalid value for {hint}: Input should be a valid integer, unable to parse string as an integer")),
    (r"Invalid value for (?P<hint>.+?): Input should be a valid number, unable to parse string as a number",
     N_("Invalid value for {hint}: Input should be a valid number, unable to parse string as a number")),
    (r"Invalid value for (?P<hint>.+?): (?P<message>.+)", N_("Invalid value for {hint}: {message}")),
    (r"(?P<message>.+?)\.? Did you mean (?P<suggestions>.+)\?", N_("{message}. Did you mean {suggestions}?")),
)
#: typer's help texts of its own, set when its module is imported (before any language is known).
_TYPER_TEXTS = {"DEFAULT_STRING": "[default: {}]", "REQUIRED_LONG_STRING": "[required]",
                "ARGUMENTS_PANEL_TITLE": "Arguments", "OPTIONS_PANEL_TITLE": "Options",
                "COMMANDS_PANEL_TITLE": "Commands", "ERRORS_PANEL_TITLE": "Error", "ABORTED_TEXT": "Aborted.",
                "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help."}


def usage_error(text: str) -> str:
    """A usage error of typer's click in the user's language (as it is when no pattern fits)."""
    for pattern, message in USAGE_ERRORS:
        found = re.fullmatch(pattern, text, flags=re.DOTALL)
        if found:
            parts = found.groupdict()
            if "message" in parts and message.startswith("{message}"):
                parts["message"] = usage_error(parts["message"] + ".").rstrip(".。")
            return _(message).format(**parts)
    return text


def translate_libraries() -> None:
    """Let typer and click speak the user's language too (``gridmap.cli`` calls this on import).

    typer's help titles are set in the current language; the type names it shows (``<str>``) and the
    help option's text are translated; its usage errors go through :func:`usage_error`; help texts
    fold where a line of Chinese (which has no spaces to break at) is too long, instead of being cut
    with "…". With a typer that uses click itself, click's gettext calls are pointed at gridmap's.
    Messages missing from the catalogue stay as the libraries write them."""
    import typer.core
    import typer.rich_utils

    for name, english in _TYPER_TEXTS.items():
        if hasattr(typer.rich_utils, name):
            setattr(typer.rich_utils, name, _(english))
    for cls in (typer.core.TyperOption, typer.core.TyperArgument):
        _wrap(cls, "display_type_rich", lambda text: _(text) if text else text)
    _wrap(typer.rich_utils, "_make_rich_text", _folding)
    try:
        from typer._click import core, exceptions, formatting
    except ImportError:  # a typer on click itself: click's own gettext calls
        import click

        for module in (click.core, click.exceptions, click.formatting, click.parser, click.types,
                       click.decorators):
            module._, module.ngettext = _, ngettext
        return
    _wrap(formatting.HelpFormatter, "write_usage", None, before=_usage_prefix)
    _wrap(core.Command, "get_help_option", _translated_help)
    for cls in vars(exceptions).values():
        if isinstance(cls, type) and issubclass(cls, exceptions.ClickException):
            owner = next(k for k in cls.__mro__ if "format_message" in vars(k))  # also a base outside the module
            _wrap(owner, "format_message", usage_error)


def _wrap(owner, name: str, after, before=None) -> None:
    """Wrap ``owner.name`` once: ``before`` may change the arguments, ``after`` the result."""
    original = getattr(owner, name, None)
    if original is None or getattr(original, "gridmap_wrapped", False):
        return

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        if before is not None:
            args, kwargs = before(args, kwargs)
        result = original(*args, **kwargs)
        return after(result) if after is not None else result

    wrapped.gridmap_wrapped = True
    setattr(owner, name, wrapped)


def _usage_prefix(args, kwargs):
    """``HelpFormatter.write_usage(self, prog, args="", prefix=None)`` with "Usage: " translated."""
    if len(args) < 4 and kwargs.get("prefix") is None:
        kwargs = {**kwargs, "prefix": _("Usage:") + " "}
    return args, kwargs


def _folding(text):
    """Rich text that folds where it cannot wrap (a run of Chinese characters has no spaces)."""
    if hasattr(text, "overflow"):
        text.overflow = "fold"
    return text


def _translated_help(option):
    if option is not None and isinstance(getattr(option, "help", None), str):
        option.help = _(option.help)
    return option


__all__ = ["DOMAIN", "LANGUAGES", "LIBRARY_MESSAGES", "LOCALE_DIR", "N_", "USAGE_ERRORS", "_", "language",
           "ngettext", "term", "translate_libraries", "usage_error"]
