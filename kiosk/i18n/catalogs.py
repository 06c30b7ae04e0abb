"""gettext catalogues: compiled from the .po files with Babel when the .mo is missing or older."""

from __future__ import annotations

import gettext
import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from kiosk.i18n.languages import LANGUAGES

log = logging.getLogger(__name__)

DOMAIN = "kiosk"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


class CatalogError(RuntimeError):
    """A .po file cannot be read or compiled."""


def po_path(code: str, root: Path = LOCALE_DIR) -> Path:
    """The source catalogue of a language."""
    return root / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogs(root: Path = LOCALE_DIR, out: Path | None = None, force: bool = False) -> list[Path]:
    """Compile every .po under ``root`` whose .mo (under ``out``, default beside it) is missing or older."""
    written = []
    for po in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = (out / po.relative_to(root) if out else po).with_suffix(".mo")
        if not force and mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=po.parent.parent.name)
            mo.parent.mkdir(parents=True, exist_ok=True)
            with mo.open("wb") as handle:
                write_mo(handle, catalog)
        except (OSError, ValueError) as exc:
            raise CatalogError(f"cannot compile {po}: {exc}") from exc
        written.append(mo)
    return written


def load(code: str, root: Path = LOCALE_DIR) -> gettext.NullTranslations:
    """The translations of one language; English (the source language) needs none."""
    if code not in LANGUAGES or code == "en":
        return gettext.NullTranslations()
    try:
        return gettext.translation(DOMAIN, str(root), languages=[code])
    except OSError:
        log.warning("no compiled catalogue for %s under %s; showing English", code, root)
        return gettext.NullTranslations()


def prepare(cache_dir: Path | None = None) -> Path:
    """Make sure compiled catalogues exist; returns the directory to load them from.

    Beside the sources when writable (development, tests), else in ``cache_dir`` (an installed app).
    """
    try:
        compile_catalogs()
        return LOCALE_DIR
    except (CatalogError, PermissionError):
        if cache_dir is None:
            raise
    out = cache_dir / "locale"
    compile_catalogs(LOCALE_DIR, out)
    return out
