"""Aisle kiosk package."""
