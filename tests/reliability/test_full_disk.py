"""A full disk gives a clear error and corrupts nothing: importer, backend requests, device outbox."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from backend import stock
from backend.db import Database
from backend.importer import ImportFileError, import_file
from edge.outbox import OrderOutbox, OutboxError, new_order_id
from mqtt.commerce import LineRequest, PlaceOrderArgs
from tests.conftest import load_fixture_catalog


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs, so the database really runs out of space."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    """Take every free byte but a few."""
    fd = os.open(directory / "ballast", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def big_catalog(path: Path, rows: int) -> Path:
    lines = ["sku,gtins,name_en,name_fa"] + [f"BULK-{i},,Product {uuid.uuid4().hex} number {i},محصول {i}"
                                             for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_on_a_full_disk_is_refused_whole_and_leaves_a_sound_database(tiny_disk, tmp_path) -> None:
    db = Database(tiny_disk / "backend.db")
    load_fixture_catalog(db)
    before = db.count("products")
    with pytest.raises(ImportFileError, match="disk .* is full"):
        import_file(db, big_catalog(tmp_path / "big.csv", 20_000), progress=False)
    assert db.count("products") == before
    assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_outbox_on_a_full_disk_refuses_the_order_clearly(tiny_disk) -> None:
    box = OrderOutbox(tiny_disk / "device.db", "test-a", rpc=None)  # type: ignore[arg-type]
    args = PlaceOrderArgs(order_id=new_order_id(), option_id="pickup:test-a",
                          lines=[LineRequest(sku="DAI-MILK-1L", quantity=1)])
    box.place(args, "s_1")
    fill(tiny_disk)
    refused = 0
    for _ in range(200):
        try:
            box.place(PlaceOrderArgs(order_id=new_order_id(), option_id="pickup:test-a",
                                     lines=[LineRequest(sku="DAI-MILK-1L", quantity=1)]), "s_1")
        except OutboxError as exc:
            assert "could not be saved" in str(exc)
            refused += 1
            break
    assert refused == 1
    assert box.get(args.order_id).status == "queued"  # what was saved before stays saved
    box.close()


def test_backend_request_on_a_full_disk_answers_unavailable(tiny_disk, broker_url, make_client) -> None:
    from backend.service import BackendService
    from mqtt.payloads import ErrorCode
    from mqtt.rpc import RemoteError, RpcClient
    from tests.conftest import clear_retained, unique

    clear_retained(broker_url)
    db = Database(tiny_disk / "backend.db")
    load_fixture_catalog(db)
    service = BackendService(db, broker_url, backend_id=unique("backend"))
    service.start()
    try:
        rpc = RpcClient(make_client(), "test-a", "tool-1")
        before = stock.level(db, "test-a", "DAI-MILK-1L")
        fill(tiny_disk)
        codes = set()
        for _ in range(300):  # SQLite may still have room in free pages for a while
            try:
                rpc.call("stock.adjust", {"sku": "DAI-MILK-1L", "delta": 1, "reason": "x" * 200})
            except RemoteError as exc:
                codes.add(exc.code)
                break
        assert codes == {ErrorCode.UNAVAILABLE}
        (tiny_disk / "ballast").unlink()  # space again: the service kept running
        level = rpc.call("stock.get", {"sku": "DAI-MILK-1L"})["stock"]
        assert level["shelf"] >= before.shelf
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert stock.ledger_balances(db) == []
    finally:
        service.stop()
        db.close()
