"""The backend database's schema: its migrations, applied in order by storage.migrate (recorded in ``_migrations``)."""

from __future__ import annotations

from storage import Migration

M001_CATALOG_AND_STOCK = """
CREATE TABLE stores (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'store' CHECK (kind IN ('store', 'warehouse')),
    currency TEXT NOT NULL,
    locale TEXT NOT NULL,
    locales TEXT NOT NULL DEFAULT 'en',
    lat REAL,
    lon REAL,
    address TEXT NOT NULL DEFAULT ''
);
CREATE TABLE products (
    sku TEXT PRIMARY KEY,
    brand TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL DEFAULT 'each',
    image TEXT NOT NULL DEFAULT '',
    vision_label TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE TABLE product_names (
    sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
    locale TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (sku, locale)
);
CREATE TABLE gtins (
    gtin TEXT PRIMARY KEY CHECK (length(gtin) = 14),
    sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE
);
CREATE INDEX gtins_sku ON gtins(sku);
-- A product is in a store's catalogue when it has a price there.
CREATE TABLE store_products (
    store TEXT NOT NULL REFERENCES stores(id),
    sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
    price TEXT NOT NULL,
    shelf_location TEXT NOT NULL DEFAULT '',
    reorder_threshold INTEGER NOT NULL DEFAULT 5 CHECK (reorder_threshold >= 0),
    seq INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (store, sku)
);
CREATE TABLE stock (
    store TEXT NOT NULL REFERENCES stores(id),
    sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
    location TEXT NOT NULL CHECK (location IN ('shelf', 'backroom', 'warehouse')),
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (store, sku, location)
);
-- seq lives in the database so it keeps increasing across backend restarts.
CREATE TABLE stock_state (
    store TEXT NOT NULL REFERENCES stores(id),
    sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (store, sku)
);
CREATE TABLE stock_ledger (
    id INTEGER PRIMARY KEY,
    store TEXT NOT NULL,
    sku TEXT NOT NULL,
    location TEXT NOT NULL,
    delta INTEGER NOT NULL,
    quantity_after INTEGER NOT NULL,
    reason TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE INDEX stock_ledger_item ON stock_ledger(store, sku, created_at);
"""

M002_CARTS_AND_ORDERS = """
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE carts (
    cart_id TEXT PRIMARY KEY,
    store TEXT NOT NULL REFERENCES stores(id),
    owner TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- unit_price is the price when the line was last set; the current catalogue price is compared on read.
CREATE TABLE cart_lines (
    cart_id TEXT NOT NULL REFERENCES carts(cart_id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    unit_price TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (cart_id, sku)
);
CREATE TABLE handoffs (
    nonce TEXT PRIMARY KEY,
    cart_id TEXT NOT NULL REFERENCES carts(cart_id) ON DELETE CASCADE,
    store TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    redeemed_at TEXT,
    redeemed_by TEXT
);
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    store TEXT NOT NULL REFERENCES stores(id),
    device TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('pickup', 'delivery')),
    source_store TEXT NOT NULL REFERENCES stores(id),
    pickup_store TEXT,
    fee TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    lead_time_hours INTEGER NOT NULL,
    address TEXT,
    cart_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(order_id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    unit_price TEXT NOT NULL,
    PRIMARY KEY (order_id, sku)
);
"""

M003_ALERTS = """
CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    store TEXT NOT NULL REFERENCES stores(id),
    sku TEXT NOT NULL REFERENCES products(sku),
    location TEXT NOT NULL DEFAULT 'shelf',
    state TEXT NOT NULL CHECK (state IN ('open', 'claimed', 'resolved', 'dismissed')),
    reason TEXT NOT NULL CHECK (reason IN ('threshold', 'scan_out_of_stock', 'staff_report')),
    opened_by TEXT NOT NULL DEFAULT '',
    opened_at TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at TEXT,
    closed_by TEXT,
    closed_at TEXT,
    resolved_quantity INTEGER,
    dismiss_reason TEXT,
    escalated_at TEXT,
    seq INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
);
-- At most one live alert per product and location: the database enforces it, not the code path.
CREATE UNIQUE INDEX alerts_one_live ON alerts(store, sku, location) WHERE state IN ('open', 'claimed');
CREATE INDEX alerts_state ON alerts(store, state);
"""

M004_DEVICES = """
-- Who a device is: the broker pins a device id to its credentials, this table gives that id a role.
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('kiosk', 'phone', 'web', 'staff', 'admin', 'backend')),
    created_at TEXT NOT NULL
);
"""

M005_ORDER_LIFECYCLE = """
-- Why a cancelled order was cancelled ('payment_deadline' when it expired unpaid; NULL when staff cancelled it).
ALTER TABLE orders ADD COLUMN closed_reason TEXT;
-- When an unpaid order is released: the payment deadline after placing, counted from when a pickup is ready (a
-- pickup is paid at the till, so a transfer's 24 h lead must not eat its time). Orders placed before this: a day.
ALTER TABLE orders ADD COLUMN pay_by TEXT;
UPDATE orders SET pay_by = replace(datetime(created_at, '+1 day'), ' ', 'T') || '+00:00'
    WHERE status = 'awaiting_payment';
CREATE INDEX orders_unpaid_due ON orders(pay_by) WHERE status = 'awaiting_payment';
-- The payment deadline's sweep and the per-device caps on unpaid holds read these, never the whole table.
CREATE INDEX orders_status_created ON orders(status, created_at);
CREATE INDEX orders_device_status ON orders(device, status);
CREATE INDEX orders_cart ON orders(cart_id) WHERE cart_id IS NOT NULL;
-- Orders still holding personal data: the retention job erases it once the order is finished and old enough.
CREATE INDEX orders_personal_data ON orders(updated_at) WHERE address IS NOT NULL;
CREATE INDEX carts_owner_updated ON carts(owner, updated_at);
CREATE INDEX carts_updated ON carts(updated_at);
CREATE INDEX handoffs_cart ON handoffs(cart_id);
CREATE INDEX handoffs_expires ON handoffs(expires_at);
CREATE INDEX alerts_closed ON alerts(closed_at) WHERE state IN ('resolved', 'dismissed');
"""

M006_SHOPPER_REPORTS = """
-- A shopper's out-of-stock scan of a shelf the stock count calls full asks staff only to check the shelf.
ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'restock' CHECK (kind IN ('restock', 'check_shelf'));
CREATE INDEX alerts_kind_opened ON alerts(store, sku, kind, opened_at);
-- Shoppers' reports within the rate window, so a limit per device holds across backend restarts.
CREATE TABLE alert_reports (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    store TEXT NOT NULL,
    sku TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX alert_reports_device ON alert_reports(device, created_at);
CREATE INDEX alert_reports_created ON alert_reports(created_at);
"""

M007_STAFF_CREDENTIALS = """
-- A store's staff PIN, kept as a salted hash and handed to devices at provisioning (mqtt/credentials.py).
CREATE TABLE staff_pins (
    store TEXT PRIMARY KEY,
    pin_hash TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Badges the backend signed; a revoked one is published on aisle/v1/{store}/staff/revoked until it expires.
CREATE TABLE staff_badges (
    badge_id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX staff_badges_store ON staff_badges(store, revoked_at);
"""

M008_PHONES = """
-- Shopper phones enrolled at run time: the broker's dynamic security plugin holds their logins, this table who
-- enrolled when (a per-store registration limit that holds across restarts) and which revocations the broker applied.
CREATE TABLE phones (
    device_id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    enrolled_via TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT,
    broker_revoked INTEGER NOT NULL DEFAULT 0 CHECK (broker_revoked IN (0, 1))
);
CREATE INDEX phones_store_created ON phones(store, created_at);
CREATE INDEX phones_revocations_pending ON phones(device_id) WHERE revoked_at IS NOT NULL AND broker_revoked = 0;
"""

M009_CHAIN = """
-- A store of a chain: the price HQ last sent for each product, and whether the store overrides it locally.
ALTER TABLE store_products ADD COLUMN hq_price TEXT;
ALTER TABLE store_products ADD COLUMN price_override INTEGER NOT NULL DEFAULT 0 CHECK (price_override IN (0, 1));
-- Counters of the chain link, e.g. the newest HQ version this store has applied (key 'hq_seq').
CREATE TABLE chain_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- HQ: every product as listed for each store, one row per (store, sku), with the chain-wide version it got when it
-- last changed. Stores pull the rows after the version they have applied, so a store cut off for a day catches up
-- with the newest state of each product and never with a replay of every push in between.
CREATE TABLE hq_entries (
    store TEXT NOT NULL,
    sku TEXT NOT NULL,
    seq INTEGER NOT NULL UNIQUE,
    digest TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (store, sku)
);
CREATE INDEX hq_entries_store_seq ON hq_entries(store, seq);
"""

M010_CHAIN_ORDERS = """
-- Another store of the chain, known here by its details only (its stock lives in its own backend): the source of an
-- order placed here whose units it holds.
ALTER TABLE stores ADD COLUMN remote INTEGER NOT NULL DEFAULT 0 CHECK (remote IN (0, 1));
-- A store of a chain holding units for an order placed at another site (pickup there, delivery from here).
CREATE TABLE remote_holds (
    order_id TEXT PRIMARY KEY,
    for_store TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    pay_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX remote_holds_due ON remote_holds(pay_by) WHERE status = 'awaiting_payment';
-- What this store must still tell another site (an order's new status): written in the transaction of the change,
-- sent until that site confirms, so a cut link delays it and never loses it.
CREATE TABLE chain_outbox (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

M011_BATCHES = """
-- A store's variable-measure (weighed item) rules, codes.measure.MeasureConfig text such as 'se'; '' for none.
ALTER TABLE stores ADD COLUMN variable_measure TEXT NOT NULL DEFAULT '';
-- Recalled products (by GTIN or SKU), all of one or one batch: published per store on aisle/v1/{store}/recalls.
CREATE TABLE recalls (
    id INTEGER PRIMARY KEY,
    store TEXT NOT NULL REFERENCES stores(id),
    gtin TEXT CHECK (gtin IS NULL OR length(gtin) = 14),
    sku TEXT,
    batch TEXT,
    reason TEXT NOT NULL,
    since TEXT NOT NULL,
    CHECK (gtin IS NOT NULL OR sku IS NOT NULL)
);
CREATE UNIQUE INDEX recalls_one ON recalls(store, ifnull(sku, ''), ifnull(gtin, ''), ifnull(batch, ''));
-- The seq of each store's list: it keeps increasing across removals and restarts, so devices take every change.
CREATE TABLE recall_lists (
    store TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
-- Alerts gain an expired batch to take off the shelf (kind remove_batch, reason scan_expired_batch, with its batch and
-- expiry). SQLite cannot change a CHECK constraint in place: the table is built again with the same rows.
CREATE TABLE alerts_new (
    alert_id TEXT PRIMARY KEY,
    store TEXT NOT NULL REFERENCES stores(id),
    sku TEXT NOT NULL REFERENCES products(sku),
    location TEXT NOT NULL DEFAULT 'shelf',
    state TEXT NOT NULL CHECK (state IN ('open', 'claimed', 'resolved', 'dismissed')),
    reason TEXT NOT NULL CHECK (reason IN ('threshold', 'scan_out_of_stock', 'staff_report', 'scan_expired_batch')),
    opened_by TEXT NOT NULL DEFAULT '',
    opened_at TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at TEXT,
    closed_by TEXT,
    closed_at TEXT,
    resolved_quantity INTEGER,
    dismiss_reason TEXT,
    escalated_at TEXT,
    seq INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'restock' CHECK (kind IN ('restock', 'check_shelf', 'remove_batch')),
    batch TEXT,
    expiry TEXT,
    CHECK ((kind = 'remove_batch') = (batch IS NOT NULL))
);
INSERT INTO alerts_new (alert_id, store, sku, location, state, reason, opened_by, opened_at, claimed_by, claimed_at,
    closed_by, closed_at, resolved_quantity, dismiss_reason, escalated_at, seq, updated_at, kind)
    SELECT alert_id, store, sku, location, state, reason, opened_by, opened_at, claimed_by, claimed_at, closed_by,
    closed_at, resolved_quantity, dismiss_reason, escalated_at, seq, updated_at, kind FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
-- One live alert per product and location, and besides it one per batch of the product to remove.
CREATE UNIQUE INDEX alerts_one_live ON alerts(store, sku, location, ifnull(batch, ''))
    WHERE state IN ('open', 'claimed');
CREATE INDEX alerts_state ON alerts(store, state);
CREATE INDEX alerts_closed ON alerts(closed_at) WHERE state IN ('resolved', 'dismissed');
CREATE INDEX alerts_kind_opened ON alerts(store, sku, kind, opened_at);
"""

M012_MEASURED_LINES = """
-- Weighed items: a cart or order line may carry its weight in kg (decimal text; the unit price is then per kg) and
-- the price printed on its label (decimal text in the store's currency), kept to flag a label the catalogue disagrees
-- with. NULL: a line priced by quantity, as every line before this.
ALTER TABLE cart_lines ADD COLUMN measure TEXT;
ALTER TABLE cart_lines ADD COLUMN label_price TEXT;
ALTER TABLE order_lines ADD COLUMN measure TEXT;
ALTER TABLE order_lines ADD COLUMN label_price TEXT;
"""

# Append only, never edit a released migration.
MIGRATIONS: list[Migration] = [
    Migration(1, "catalog and stock", M001_CATALOG_AND_STOCK),
    Migration(2, "carts, handoffs and orders", M002_CARTS_AND_ORDERS),
    Migration(3, "restock alerts", M003_ALERTS),
    Migration(4, "device roles", M004_DEVICES),
    Migration(5, "order lifecycle, holds and retention", M005_ORDER_LIFECYCLE),
    Migration(6, "shopper reports and check-shelf alerts", M006_SHOPPER_REPORTS),
    Migration(7, "staff PINs and badges", M007_STAFF_CREDENTIALS),
    Migration(8, "shopper phones", M008_PHONES),
    Migration(9, "chain: HQ prices, local overrides, HQ entries", M009_CHAIN),
    Migration(10, "chain: holds for other sites' orders, chain outbox", M010_CHAIN_ORDERS),
    Migration(11, "batches: stores' variable-measure rules, recalls, expired-batch alerts", M011_BATCHES),
    Migration(12, "weighed cart and order lines: measure and label price", M012_MEASURED_LINES),
]
