"""Screen sizes of the browser tests and where their screenshots go (gitignored)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "browser"
LAPTOP: ViewportSize = {"width": 1366, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


def screenshot(tab: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/browser/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
