"""The argument types of the verbs: each turns one command-line word into a checked value."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from service.tokens import TokenError, check_principal


def public_key(text: str) -> str:
    """An Ed25519 public key as 64 hexadecimal digits, as checkpoints give it."""
    key = text.strip().lower()
    if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
        raise argparse.ArgumentTypeError(f"{text!r}: an Ed25519 public key is 64 hex digits")
    return key


def whole(least: int, most: int | None = None) -> Callable[[str], int]:
    """A whole number from `least` to `most`."""
    span = f"from {least} to {most}" if most is not None else f"at least {least}"

    def parse(text: str) -> int:
        value = int(text) if text.isascii() and text.isdigit() else None
        if value is None or value < least or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"{text!r}: a whole number {span}")
        return value

    return parse


def poll_seconds(text: str) -> float:
    """Seconds between reads of the log, from 0.01 to 3600."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.01 <= value <= 3600:  # nan fails too; 0 or less would spin a core
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds from 0.01 to 3600")
    return value


def principal(text: str) -> str:
    """A name to record as `recorded_by`, by the rules of token names."""
    try:
        return check_principal(text)
    except TokenError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
