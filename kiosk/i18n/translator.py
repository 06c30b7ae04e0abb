"""The translator kv rules bind to: ``tr._("Scan a product")`` updates itself when the language changes."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.event import Observable

from kiosk.i18n import catalogs
from kiosk.i18n.languages import DEFAULT


class Translator(Observable):
    """gettext behind an Observable, so ``tr._(...)`` in kv is re-evaluated on ``switch``."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = DEFAULT
        self.root: Path = catalogs.LOCALE_DIR
        self._catalog: gettext.NullTranslations = gettext.NullTranslations()
        self._observers: list[tuple[Callable[..., Any], Any, dict[str, Any]]] = []

    def _(self, text: str) -> str:
        """The translation of ``text``."""
        return self._catalog.gettext(text)

    def n_(self, singular: str, plural: str, n: int) -> str:
        """The translation of a count-dependent message."""
        return self._catalog.ngettext(singular, plural, n)

    def fbind(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name == "_":
            self._observers.append((func, args, kwargs))
            return None  # never unbound: kv rules on long-lived screens only
        return super().fbind(name, func, *args, **kwargs)

    def funbind(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name == "_":
            self._observers = [o for o in self._observers if o[0] is not func]
            return None
        return super().funbind(name, func, *args, **kwargs)

    def switch(self, lang: str) -> None:
        """Load another language and re-evaluate every kv rule that uses ``tr._``."""
        self._catalog = catalogs.load(lang, self.root)
        self.lang = lang
        for func, args, _kwargs in list(self._observers):
            func(args[0] if len(args) == 1 else args, None, None)


tr = Translator()
