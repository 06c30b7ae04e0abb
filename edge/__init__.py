"""Aisle edge package."""
