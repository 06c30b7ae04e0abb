"""View-models relay the controller's updates their screen follows, and nothing else (no window needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kiosk.viewmodels.shopper import CartModel, ProductModel
from kiosk.viewmodels.staff import AdjustModel, EnrolModel
from kiosk.viewmodels.updates import Updates


def _controller() -> Any:
    return SimpleNamespace(updates=Updates())


def test_a_model_relays_only_the_updates_its_screen_follows() -> None:
    ctl = _controller()
    product, cart = ProductModel(ctl, "product"), CartModel(ctl, "cart")
    seen: list[tuple[str, object]] = []
    product.bind(on_stock=lambda _vm, view: seen.append(("product", view)),
                 on_cart=lambda _vm, snap: seen.append(("product-cart", snap)))
    cart.bind(on_cart=lambda _vm, snap: seen.append(("cart", snap)))
    ctl.updates.dispatch("on_stock", "stock-view")
    ctl.updates.dispatch("on_cart", "snapshot")
    assert seen == [("product", "stock-view"), ("cart", "snapshot")]


def test_a_picked_product_reaches_only_the_staff_tool_that_asked() -> None:
    ctl = _controller()
    adjust, enrol = AdjustModel(ctl, "adjust"), EnrolModel(ctl, "enrol")
    picked: list[tuple[str, str]] = []
    adjust.bind(on_pick=lambda _vm, _purpose, sku: picked.append(("adjust", sku)))
    enrol.bind(on_pick=lambda _vm, _purpose, sku: picked.append(("enrol", sku)))
    ctl.updates.dispatch("on_pick", "enrol", "SKU-1")
    ctl.updates.dispatch("on_pick", "adjust", "SKU-2")
    assert picked == [("enrol", "SKU-1"), ("adjust", "SKU-2")]
