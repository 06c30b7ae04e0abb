"""``python -m kiosk``: the Aisle app in kiosk, phone or staff mode (on a virtual display when there is none)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.config import (
    ConfigError,
    KioskConfig,
    Mode,
    demo_config,
    install_provisioning,
    load_phone_login,
    load_provisioning,
    load_settings,
    stable_device_id,
    validate,
)
from mqtt.url import mask_url
from vision.datasets import GROCERY_ENV, from_env

if TYPE_CHECKING:  # kiosk.app imports Kivy, which must wait for configure_kivy
    from kiosk.app import Extension

STARTED = time.monotonic()
log = logging.getLogger("kiosk")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m kiosk``."""
    p = argparse.ArgumentParser(prog="python -m kiosk", description="Aisle kiosk, phone and staff app")
    p.add_argument("--mode", choices=["kiosk", "phone", "staff", "auto"], default="auto",
                   help="who uses it; auto: phone on Android, else by --size (portrait: phone), else kiosk")
    p.add_argument("--broker", help="mqtt://host:port of the store's broker (default mqtt://127.0.0.1:1883)")
    p.add_argument("--store", help="store id (default sthlm-city)")
    p.add_argument("--device", help="device id (default: made once and kept in the data folder)")
    p.add_argument("--data-dir", type=Path, help="cache, orders and settings (default var/kiosk-MODE)")
    p.add_argument("--images", type=Path, help="a folder of images replayed as the camera (desktop, tests, demo)")
    p.add_argument("--images-fps", type=float, default=15.0, help="frames per second of the image folder")
    p.add_argument("--camera", type=int, default=0, help="camera index, -1 for none (default 0)")
    p.add_argument("--product-images", type=Path, action="append", default=[],
                   help="a folder product image paths are relative to (repeatable)")
    p.add_argument("--product-dataset", type=Path,
                   help=f"the Grocery Store Dataset's folder, for product photos (default: ${GROCERY_ENV})")
    p.add_argument("--recognition-model", type=Path, help="a .tflite embedding model (default: assets/models)")
    p.add_argument("--language", help="start language (default: the store's)")
    p.add_argument("--idle", type=float, help="seconds without a touch before a kiosk starts over")
    p.add_argument("--idle-warning", type=float, help="seconds of countdown shown before that")
    p.add_argument("--text-scale", type=float, help="1.0, 1.3 or 1.6")
    p.add_argument("--high-contrast", action="store_true", default=None)
    p.add_argument("--provision", type=Path, metavar="FILE",
                   help="install the provisioning file `python -m backend devices provision` wrote, then start")
    p.add_argument("--demo", action="store_true",
                   help="demo staff sign-in: PIN 2468 and demo badges (never on a real store's device)")
    p.add_argument("--size", help="window size WIDTHxHEIGHT on a desktop")
    p.add_argument("--fullscreen", action="store_true")
    p.add_argument("--virtual-display", choices=["auto", "yes", "no"], default="auto",
                   help="auto: start Xvfb when there is no DISPLAY")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def resolve_mode(mode: str, size: tuple[int, int] | None) -> Mode:
    """The mode from the flag, or from the screen's shape."""
    if mode != "auto":
        return Mode(mode)
    if "ANDROID_ARGUMENT" in os.environ:
        return Mode.PHONE
    if size and size[1] > size[0]:
        return Mode.PHONE
    return Mode.KIOSK


def config_from(args: argparse.Namespace) -> KioskConfig:
    """Defaults, then saved settings, then what the command line says explicitly."""
    size = tuple(int(x) for x in args.size.lower().split("x")) if args.size else None
    if size is not None and len(size) != 2:
        raise ConfigError(f"--size must look like 1280x800, got {args.size!r}")
    mode = resolve_mode(args.mode, size)  # type: ignore[arg-type]
    base = KioskConfig(mode=mode, data_dir=args.data_dir or Path("var") / f"kiosk-{mode.value}",
                       idle_timeout=300.0 if mode is Mode.STAFF else 90.0)
    if args.provision:
        installed = install_provisioning(base, args.provision)
        log.info("provisioned as %s of store %s", installed.device, installed.store)
    config = load_phone_login(load_settings(load_provisioning(base)))
    if args.demo:
        if config.provisioned:
            raise ConfigError("--demo is for demo devices; this one is provisioned for a store")
        config = demo_config(config)
    explicit = {
        "broker": args.broker, "store": args.store, "device_id": args.device, "images": args.images,
        "language": args.language, "idle_timeout": args.idle, "idle_warning": args.idle_warning,
        "text_scale": args.text_scale, "high_contrast": args.high_contrast,
        "recognition_model": args.recognition_model,
        "product_dataset": args.product_dataset or from_env(GROCERY_ENV),
    }
    config = replace(config, **{k: v for k, v in explicit.items() if v is not None})
    config = replace(config, camera=None if args.camera < 0 else args.camera, images_fps=args.images_fps,
                     product_images=tuple(args.product_images), width=size[0] if size else 0,
                     height=size[1] if size else 0)
    if config.mode is Mode.STAFF and not config.staff_enabled:
        raise ConfigError("staff mode needs provisioning: run `python -m backend devices provision ...` and start "
                          "with --provision FILE (or --demo for the demo)")
    return validate(config)


def _no_cut_buffer_noise(record: logging.LogRecord) -> bool:
    """Drop Kivy's traceback about a missing X cut buffer (xclip/xsel): the app never uses one."""
    return not str(record.msg).startswith("Cutbuffer: Unable to find")


def configure_kivy(config: KioskConfig, fullscreen: bool, verbose: bool) -> None:
    """Environment and Config that must be set before Kivy creates its window."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    # Kivy's default log mode takes over the root logger and stderr; ours stays in charge instead.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    kivy_log = logging.getLogger("kivy")
    kivy_log.addFilter(_no_cut_buffer_noise)
    if not verbose:
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
        kivy_log.setLevel(logging.WARNING)
    # Keep Kivy's own config next to ours instead of in the user's home.
    os.environ.setdefault("KIVY_HOME", str((config.data_dir / "kivy").resolve()))
    (config.data_dir / "kivy").mkdir(parents=True, exist_ok=True)
    from kivy.config import Config

    width, height = config.window_size()
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "1")
    Config.set("kivy", "exit_on_escape", "0")  # Escape and Android's back button mean "back", never "quit"
    Config.set("kivy", "keyboard_mode", "system")  # the kiosk draws its own keyboard where it needs one
    Config.set("input", "mouse", "mouse,disable_multitouch")


def main(argv: Sequence[str] | None = None, *, extensions: Sequence[Extension] = ()) -> int:
    """Run the app until it is closed; ``extensions`` go to ``AisleApp`` (the test driver's way in)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = config_from(args)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    display = None
    if args.virtual_display == "yes" or (args.virtual_display == "auto" and not os.environ.get("DISPLAY")
                                         and "ANDROID_ARGUMENT" not in os.environ and sys.platform == "linux"):
        from kiosk.virtual_display import DisplayError, VirtualDisplay

        try:
            display = VirtualDisplay().start()
        except DisplayError as exc:
            print(f"error: no display and {exc}", file=sys.stderr)
            return 2
    try:
        device_id = stable_device_id(config)
        configure_kivy(config, args.fullscreen, args.verbose)
        from kiosk.app import AisleApp

        log.info("starting %s mode for store %s on %s as %s", config.mode.value, config.store,
                 mask_url(config.broker), device_id)
        if not config.staff_enabled:  # a shopper's phone is never provisioned: say so without alarm there
            log.log(logging.INFO if config.mode is Mode.PHONE else logging.WARNING,
                    "not provisioned: shopper mode only, no staff sign-in (python -m kiosk --provision FILE)")
        elif config.demo:
            log.warning("demo staff sign-in (PIN 2468, demo badges): never use --demo in a real store")
        app = AisleApp(config, device_id, started=STARTED, extensions=extensions)
        app.run()
        return app.exit_code
    finally:
        if display is not None:
            display.stop()
