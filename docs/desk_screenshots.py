"""Take the README's pictures of the desk with headless Chromium: `leafgen serve` must be running on port 8000.

    leafgen serve &  python docs/desk_screenshots.py
"""

import sys

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/"
LEAFLET = "pins-and-needles-in-back"

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(BASE + f"leaflet/{LEAFLET}?lang=en&kind=checklist")
    page.get_by_label("Patient name").fill("Ann Lee")
    page.get_by_role("button", name="Preview with these details").click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path="docs/desk-en.png")
    page.goto(BASE + f"leaflet/{LEAFLET}?lang=ar&large_print=1")
    page.wait_for_load_state("networkidle")
    page.screenshot(path="docs/desk-ar.png")
    browser.close()
