"""The reference store backend: catalogue, prices, stock, carts, orders and alerts over MQTT."""
