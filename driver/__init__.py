"""Test and demo driver for the Aisle app: starts ``python -m kiosk`` from outside and drives it (never shipped).

``python -m driver [--harness-port N] [--walkthrough DIR] -- <python -m kiosk arguments>`` runs the app through
its normal entry (``kiosk.cli.main``) and attaches through the app's one hook, ``AisleApp(extensions=...)``.
The in-app parts (harness, automation, walkthrough, inspection) import Kivy; ``driver.client`` and
``driver.samples`` do not, so tests and benchmarks can import them without a window.
"""
