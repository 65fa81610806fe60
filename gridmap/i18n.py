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

    pybabel extract -F gridmap/locale/babel.cfg -k _ -k N_ -o gridmap/locale/gridmap.pot gridmap
    pybabel update -i gridmap/locale/gridmap.pot -d gridmap/locale -D gridmap -l zh_CN
    (translate the new entries of gridmap.po)
    pybabel compile -d gridmap/locale -D gridmap
"""

from __future__ import annotations

import functools
import gettext
import os
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


#: What typer and click print of their own (help panels, usage errors), as they write it: their own
#: gettext calls find nothing in gettext's default domain, so :func:`translate_libraries` routes them
#: through gridmap's catalogue, where these are translated.
LIBRARY_MESSAGES = (
    N_("Usage:"), N_("Show this message and exit."), N_("Arguments"), N_("Options"), N_("Commands"), N_("Error"),
    N_("[default: {}]"), N_("[required]"), N_("Aborted."), N_("Aborted!"),
    N_("Try [blue]'{command_path} {help_option}'[/] for help."), N_("Missing argument"), N_("Missing option"),
    N_("Missing parameter"), N_("Missing command."), N_("No such command {name!r}."), N_("No such option {name!r}."),
    N_("Option {name!r} does not take a value."), N_("Invalid value for {param_hint}: {message}"),
    N_("Invalid value: {message}"), N_("{value!r} is not a valid {number_type}."), N_("integer"), N_("float"),
    # The types typer shows beside each option.
    N_("<str>"), N_("<list[str]>"), N_("<float>"), N_("<int>"), N_("<bool>"), N_("<path>"),
)
#: typer's help texts of its own, set when its module is imported (before any language is known).
_TYPER_TEXTS = {"DEFAULT_STRING": "[default: {}]", "REQUIRED_LONG_STRING": "[required]",
                "ARGUMENTS_PANEL_TITLE": "Arguments", "OPTIONS_PANEL_TITLE": "Options",
                "COMMANDS_PANEL_TITLE": "Commands", "ERRORS_PANEL_TITLE": "Error", "ABORTED_TEXT": "Aborted.",
                "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help."}


def translate_libraries() -> None:
    """Let typer and click speak the user's language too (``gridmap.cli`` calls this on import).

    click and typer call gettext's default domain, which holds no translation: their modules' ``_``
    and ``ngettext`` are pointed at gridmap's, typer's help titles are set in the current language,
    and the type names typer shows in help (``<str>``) are translated. Messages missing from the
    catalogue stay as the libraries write them."""
    import click
    import typer.core
    import typer.rich_utils

    for module in (click.core, click.exceptions, click.formatting, click.parser, click.types, click.decorators,
                   typer.core):
        if hasattr(module, "_"):
            module._ = _
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext
    for name, english in _TYPER_TEXTS.items():
        if hasattr(typer.rich_utils, name):
            setattr(typer.rich_utils, name, _(english))
    for cls in (typer.core.TyperOption, typer.core.TyperArgument):
        shown = getattr(cls, "display_type_rich", None)
        if shown is not None and not getattr(shown, "translated", False):
            def display_type_rich(self, ctx, _shown=shown):
                text = _shown(self, ctx)
                return _(text) if text else text
            display_type_rich.translated = True
            cls.display_type_rich = display_type_rich


__all__ = ["DOMAIN", "LANGUAGES", "LIBRARY_MESSAGES", "LOCALE_DIR", "N_", "_", "language", "ngettext", "term",
           "translate_libraries"]
