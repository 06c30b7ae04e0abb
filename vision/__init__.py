"""Aisle vision package."""
