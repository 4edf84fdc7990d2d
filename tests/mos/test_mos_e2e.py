"""End to end: real headless Chromium (Debian's chromium + chromium-driver, via selenium) rates a study by keyboard.

Set ``SR4DET_UPDATE_SCREENSHOT=1`` to refresh ``docs/mos_screenshot.png`` from this test (CI leaves it alone).
``SR4DET_CHROMIUM`` / ``SR4DET_CHROMEDRIVER`` override the browser and driver paths.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from sr4det.data.io import write_image
from sr4det.mos import Study, create_app, create_study, mos_table
from sr4det.mos.app import LOOPBACK_HOSTS

from .conftest import _scene, make_tiny_weights

CHROMIUM = os.environ.get("SR4DET_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SR4DET_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "mos_screenshot.png"
SCORES = {"hr": 5, "bicubic": 2, "bilinear": 1, "tiny": 3}  # what our scripted rater answers per method

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _require_browser() -> None:
    pytest.importorskip("selenium", reason="selenium is not installed (pip install 'sr4det[dev]')")
    pytest.importorskip("flask", reason="flask is not installed (pip install 'sr4det[mos]')")
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            pytest.skip(f"headless browser test needs {path} (apt-get install chromium chromium-driver; .ci/run installs {pkg})")


def _scenes() -> list[np.ndarray]:
    """Three photos bundled with scikit-image (no download) when it is installed, else synthetic patterns."""
    try:
        from skimage import data

        return [data.chelsea()[40:232, 120:376], data.coffee()[100:292, 150:406], data.astronaut()[20:212, 140:396]]
    except Exception:  # scikit-image is a dev extra; the test does not depend on it
        return [_scene(96, 128, 10), _scene(112, 96, 11), _scene(96, 96, 12)]


@pytest.fixture
def live_study(tmp_path):
    """A 3-scene study served by werkzeug on 127.0.0.1 and a free port, in a thread."""
    from werkzeug.serving import make_server

    hr = tmp_path / "hr"
    for k, img in enumerate(_scenes()):
        write_image(hr / f"scene{k}.png", img)
    tiny = make_tiny_weights(tmp_path / "tiny.pt")
    db = create_study(hr, tmp_path / "study.sqlite", scale=4, methods=f"bilinear,tiny={tiny}", seed=11, progress=False)
    server = make_server("127.0.0.1", 0, create_app(db, trusted_hosts=LOOPBACK_HOSTS), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield db, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser():
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sr4det-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,820",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _method_of(db: Path) -> dict[int, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT i.id, m.name FROM images i JOIN methods m ON m.id = i.method_id").fetchall())
    finally:
        conn.close()


def _login(driver, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(url)
    box = driver.find_element(By.ID, "rater-name")
    box.send_keys(name, Keys.ENTER)


def _wait_ready(driver, previous: str | None = None) -> str | None:
    """Wait until a new image is on screen and the buttons accept a score (or the study is done)."""
    from selenium.webdriver.support.ui import WebDriverWait

    script = """
        const img = document.getElementById('image');
        if (!document.getElementById('done').hidden) return 'DONE';
        const ready = img.complete && img.naturalWidth > 0 && !document.querySelector('.score').disabled;
        return ready && img.dataset.imageId !== arguments[0] ? img.dataset.imageId : null;"""
    state = WebDriverWait(driver, 30).until(lambda d: d.execute_script(script, previous or ""))
    return None if state == "DONE" else state


def test_rate_by_keyboard_in_headless_chromium(browser, live_study):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    db, url = live_study
    method_of = _method_of(db)
    study = Study(db)
    _login(browser, url, "Alice")
    current = _wait_ready(browser)
    order = study.assignment(study.get_rater("Alice"))
    assert len(order) == 12
    assert int(current) == order[0]

    shown: list[int] = []
    for k in range(6):
        image_id = int(current)
        shown.append(image_id)
        assert browser.find_element(By.ID, "progress").text == f"{k} / 12 rated"
        img = browser.find_element(By.ID, "image")
        assert img.get_property("naturalWidth") == study.image(image_id).width  # shown at true size
        if k == 2:
            if os.environ.get("SR4DET_UPDATE_SCREENSHOT") == "1":
                SCREENSHOT.parent.mkdir(exist_ok=True)
                browser.save_screenshot(str(SCREENSHOT))
            assert browser.get_screenshot_as_png()[:4] == b"\x89PNG"
        ActionChains(browser).send_keys(str(SCORES[method_of[image_id]])).perform()
        current = _wait_ready(browser, current)
    # each score is in the database as soon as the next image is on screen
    rows = sqlite3.connect(db).execute("SELECT image_id, score FROM ratings ORDER BY id").fetchall()
    assert rows == [(i, SCORES[method_of[i]]) for i in shown]

    # leave (a new page load) and come back under the same name: progress kept, no repeats
    _login(browser, url, "alice")
    current = _wait_ready(browser)
    assert browser.find_element(By.ID, "progress").text == "6 / 12 rated"
    while current is not None:
        image_id = int(current)
        assert image_id not in shown
        shown.append(image_id)
        if len(shown) == 12:  # the last one with the mouse: the buttons work too
            browser.find_element(By.CSS_SELECTOR, f".score[data-score='{SCORES[method_of[image_id]]}']").click()
        else:
            ActionChains(browser).send_keys(str(SCORES[method_of[image_id]])).perform()
        current = _wait_ready(browser, current)
    assert browser.find_element(By.ID, "done").is_displayed()
    assert shown == order

    rows = sqlite3.connect(db).execute("SELECT rater_id, image_id, score FROM ratings ORDER BY id").fetchall()
    assert len(rows) == 12
    assert {r[0] for r in rows} == {study.get_rater("Alice")}
    assert [(i, s) for _, i, s in rows] == [(i, SCORES[method_of[i]]) for i in order]
    table = mos_table(db)
    for method, score in SCORES.items():
        assert table[method]["mos"] == score
        assert table[method]["n"] == 3
        assert table[method]["ci_low"] == table[method]["ci_high"] == score  # one consistent rater


def test_keys_outside_1_to_5_and_repeats_do_nothing(browser, live_study):
    from selenium.webdriver.common.action_chains import ActionChains

    db, url = live_study
    _login(browser, url, "Bob")
    first = _wait_ready(browser)
    ActionChains(browser).send_keys("0").send_keys("6").send_keys("x").perform()
    # nothing is stored and the same image stays on screen
    assert np.all(np.array(sqlite3.connect(db).execute("SELECT COUNT(*) FROM ratings").fetchone()) == 0)
    assert browser.execute_script("return document.getElementById('image').dataset.imageId") == first
    ActionChains(browser).send_keys("4").perform()
    second = _wait_ready(browser, first)
    assert second != first
    assert sqlite3.connect(db).execute("SELECT image_id, score FROM ratings").fetchall() == [(int(first), 4)]
