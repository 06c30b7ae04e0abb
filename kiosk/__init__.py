"""Aisle's Kivy app: kiosk, phone and staff modes; the only package that imports Kivy."""
