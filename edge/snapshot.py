"""Catalogue and stock by request (``catalog.snapshot``): a new device's first sync, and catch-up after a reconnect.

Over MQTT 5 a device subscribes to its store's retained topics without their retained messages (retain handling
2) and asks the backend for pages instead: about a hundred products per message, validated from JSON in one pass,
instead of two messages per product that each go through paho, the dispatcher and pydantic on their own.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, TypeAdapter, ValidationError

from codes import ids
from mqtt import topics
from mqtt.payloads import (
    MAX_PAYLOAD_BYTES,
    CatalogSnapshotArgs,
    ErrorCode,
    Payload,
    PayloadError,
    Product,
    StockLevel,
    Timestamp,
    describe,
)
from mqtt.rpc import RemoteError, RpcClient, reply_result

log = logging.getLogger(__name__)

# A change committed while a page was being read may carry a time just before that page's as_of: ask again a little
# earlier. Entries sent twice are harmless (the cache keeps the higher seq).
CATCH_UP_OVERLAP = timedelta(seconds=30)

# How far from a page's end to look for the cursor it names, and how it looks.
_HINT_TAIL = 256
_NEXT_KEY = re.compile(rb'"next"\s*:\s*"([^"\\]{1,64})"')

# Entries of pages that wait for the cache's writer: a bound on the memory they hold.
MAX_GATHERED = 20_000

_PRODUCTS = TypeAdapter(list[Product])
_LEVELS = TypeAdapter(list[StockLevel])

Item = Product | StockLevel
Rejection = tuple[str, str]  # (topic the entry would have, reason)


class SnapshotError(RuntimeError):
    """The backend's snapshot pages are not usable (malformed, or not making progress)."""


@dataclass(frozen=True)
class PageContent:
    """One validated page."""

    items: list[Item]
    rejected: list[Rejection]
    next: str | None
    as_of: datetime


@dataclass(frozen=True)
class SnapshotResult:
    """What a complete snapshot brought."""

    products: int
    stock: int
    rejected: int
    pages: int
    as_of: datetime
    seconds: float


class _Page(Payload):
    """A ``catalog.snapshot`` result."""

    products: list[Product]
    stock: list[StockLevel]
    next: str | None = None
    # Strict: an ISO 8601 string only, as parse_page reads it (pydantic would also take a number of seconds).
    as_of: Annotated[Timestamp, Strict()]


class _PageReply(Payload):
    """A whole reply whose every entry is valid: the common case, validated from JSON in one pass."""

    v: Literal[1]
    id: str = Field(max_length=64)
    ok: Literal[True]
    result: _Page
    error: None = None


def parse_reply(raw: bytes, store: str, after: str | None) -> PageContent:
    """Validate a raw ``catalog.snapshot`` reply; raises RemoteError for a failed one (see ``parse_page``)."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise SnapshotError(f"page of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        reply = _PageReply.model_validate_json(raw)
    except ValidationError:
        # An error reply, or a page with a bad entry: parse it generically and sort the entries one by one.
        try:
            return parse_page(reply_result(raw), store, after)
        except PayloadError as exc:
            raise SnapshotError(f"malformed page: {exc}") from None
    page = reply.result
    cursor = _checked_cursor(page.next, after)
    rejected: list[Rejection] = []
    items = [*_own(page.products, topics.catalog, store, rejected), *_own(page.stock, topics.stock, store, rejected)]
    return PageContent(items, rejected, cursor, page.as_of)


def parse_page(result: dict[str, Any], store: str, after: str | None) -> PageContent:
    """Validate a ``catalog.snapshot`` result; bad entries are rejected one by one, a bad page raises SnapshotError."""
    products, levels = result.get("products"), result.get("stock")
    if not isinstance(products, list) or not isinstance(levels, list):
        raise SnapshotError("a snapshot page needs the lists 'products' and 'stock'")
    cursor = _checked_cursor(result.get("next"), after)
    try:
        as_of = datetime.fromisoformat(str(result.get("as_of")))
    except ValueError:
        raise SnapshotError(f"bad as_of {str(result.get('as_of'))[:40]!r}") from None
    if as_of.tzinfo is None:
        raise SnapshotError("as_of has no time zone")
    rejected: list[Rejection] = []
    items: list[Item] = [*_validate(products, _PRODUCTS, Product, topics.catalog, store, rejected),
                         *_validate(levels, _LEVELS, StockLevel, topics.stock, store, rejected)]
    return PageContent(items, rejected, cursor, as_of)


def next_hint(raw: bytes) -> str | None:
    """The cursor a raw page names, read off its end before validation (a guess: ``parse_reply`` decides)."""
    # The backend writes "next" after the entries; inside a JSON string its quotes would be escaped.
    keys = _NEXT_KEY.findall(raw, max(0, len(raw) - _HINT_TAIL))
    if not keys:
        return None
    cursor = keys[-1].decode("ascii", "replace")
    return cursor if ids.SKU_RE.fullmatch(cursor) else None


def _checked_cursor(cursor: object, after: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        sku = ids.sku(cursor)
    except ids.InvalidIdentifier as exc:
        raise SnapshotError(f"bad page cursor: {exc}") from None
    if after is not None and sku <= after:
        raise SnapshotError(f"page cursor {sku!r} does not move past {after!r}")
    return sku


def _validate(raw: list[Any], adapter: TypeAdapter[Any], model: type[Item], topic: Callable[[str, str], str],
              store: str, rejected: list[Rejection]) -> list[Item]:
    try:
        valid: list[Item] = adapter.validate_python(raw)
    except ValidationError:
        # One bad entry must not cost the page: validate one by one (the slow path) and keep the good ones.
        valid = []
        for entry in raw:
            try:
                valid.append(model.model_validate(entry))
            except ValidationError as exc:
                sku = entry.get("sku") if isinstance(entry, dict) else None
                rejected.append((topic(store, sku) if isinstance(sku, str) and ids.SKU_RE.fullmatch(sku)
                                 else f"{topics.store_info(store)} snapshot", describe(exc)))
    return _own(valid, topic, store, rejected)


def _own(valid: Sequence[Item], topic: Callable[[str, str], str], store: str, rejected: list[Rejection]) -> list[Item]:
    kept = []
    for item in valid:
        if item.store == store:
            kept.append(item)
        else:
            rejected.append((topic(store, item.sku), f"snapshot entry names store {item.store}"))
    return kept


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (nesting and threads allowed); reference counting still frees."""
    # A snapshot allocates millions of short-lived objects (JSON, models, rows) in no cycle at all, and the
    # collector kept walking them: validating 50k entries took 48 µs each with it and 25 without (in one process);
    # a whole sync gains about a tenth (8.7 s against 9.6 s, three runs each, on this noisy 2-core machine).
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


MAX_REFUSALS = 30  # pages refused in one sync before it gives up (and the device's own retry takes over)
LONGEST_WAIT = 60.0  # seconds; a longer hint ends the sync instead


def retry_wait(raw: bytes, refusals: int) -> float | None:
    """How long to wait before asking again, for a page refused with a hint (``rate_limited``, ``unavailable``)."""
    if len(raw) > 4096 or refusals >= MAX_REFUSALS:  # a refusal is a few hundred bytes; a page is much more
        return None
    try:
        reply_result(raw)
    except RemoteError as exc:
        if exc.code in (ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE) and exc.retry_after is not None:
            return exc.retry_after if 0 <= exc.retry_after <= LONGEST_WAIT else None
    except (ValueError, PayloadError):
        return None
    return None


def _sleep_while(seconds: float, still_wanted: Callable[[], bool]) -> bool:
    """Sleep ``seconds`` in short steps; False as soon as the sync is no longer wanted."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))
        if not still_wanted():
            return False
    return True


def fetch(rpc: RpcClient, store: str, since: datetime | None, apply: Callable[[Sequence[Item]], None],
          reject: Callable[[str, str], None], *, page_timeout: float = 15.0,
          limit: int = 1000, still_wanted: Callable[[], bool] = lambda: True,
          busy: Callable[[], bool] = lambda: False) -> SnapshotResult | None:
    """Fetch every page (only what changed at or after ``since``, if given) and hand them to ``apply`` in order.

    The next page is requested as soon as a page is validated, so the backend reads it while this one is written.
    While ``busy`` says the cache's writer is taken (by the search indexer), pages gather and go to ``apply``
    together once it is free. Returns None when ``still_wanted`` turns false.
    """
    started = time.monotonic()
    after: str | None = None
    counts = {"products": 0, "stock": 0, "rejected": 0, "pages": 0}
    as_of: datetime | None = None

    def request(cursor: str | None) -> Future[bytes]:
        return rpc.call_async("catalog.snapshot", CatalogSnapshotArgs(after=cursor, since=since, limit=limit),
                              raw=True)

    pending = request(None)
    gathered: list[Item] = []
    refusals = 0
    with collector_paused():
        while True:
            raw = pending.result(page_timeout)
            if not still_wanted():
                apply(gathered)
                return None
            wait = retry_wait(raw, refusals)
            if wait is not None:
                # The backend is busy, or this device used its sync budget (a catalogue of many pages): wait as
                # long as it says, then ask for the same page. Asking sooner would get the device penalised.
                refusals += 1
                log.info("%s: catalogue page refused for now; asking again in %.2f s", store, wait)
                if not _sleep_while(wait, still_wanted):
                    apply(gathered)
                    return None
                pending = request(after)
                continue
            # Ask for the next page before this one is even validated, so the backend reads it meanwhile: waiting
            # for pages took a fifth of a 50k sync when the request went out after validation.
            hint, asked = next_hint(raw), None
            if hint is not None and (after is None or hint > after):
                pending, asked = request(hint), hint
            page = parse_reply(raw, store, after)
            if page.next is not None and page.next != asked:
                pending = request(page.next)  # a wrong guess: its reply is never read
            as_of = as_of or page.as_of  # the first page's: everything after it reaches the device live
            for topic, reason in page.rejected:
                reject(topic, reason)
            counts["pages"] += 1
            counts["rejected"] += len(page.rejected)
            counts["products"] += sum(isinstance(i, Product) for i in page.items)
            counts["stock"] += sum(isinstance(i, StockLevel) for i in page.items)
            gathered += page.items
            if page.next is None:
                break
            if len(gathered) >= MAX_GATHERED or not busy():
                apply(gathered)
                gathered = []
            after = page.next
        apply(gathered)
    log.info("%s: snapshot of %d products and %d stock levels in %d pages, %.2f s", store, counts["products"],
             counts["stock"], counts["pages"], time.monotonic() - started)
    return SnapshotResult(counts["products"], counts["stock"], counts["rejected"], counts["pages"], as_of,
                          time.monotonic() - started)
