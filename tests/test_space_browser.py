"""The Space in a real browser: headless Chromium (Debian's package, `scripts/install_browser.sh`) through selenium.

Fills in a description, generates, chats, and checks what a person would see. Saves a screenshot to
`$T2L_SCREENSHOT_DIR` (default: the test's tmp folder). Skipped when Chromium or its driver is not installed.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "space"))

from t2l_demo.config import AppConfig  # noqa: E402
from t2l_demo.tiny import tiny_models  # noqa: E402
from t2l_demo.ui import build_demo  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1500",
]
TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver: run scripts/install_browser.sh",
)


@pytest.fixture
def page(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium must never try to download a browser or a driver
    demo = build_demo(tiny_models(), AppConfig(max_new_tokens=12))
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.get(url)
        yield driver
    finally:
        driver.quit()
        demo.close()


def wait_for(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, TIMEOUT_S, poll_frequency=0.2).until(
        condition, message=f"timed out waiting for {what}"
    )


def bot_messages(driver, chat_id: str) -> list[str]:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f"#{chat_id} [data-testid='bot']")
    return [el.text.strip() for el in found if el.text.strip()]


def test_describe_generate_and_chat_in_chromium(page, tmp_path):
    from selenium.webdriver.common.by import By

    wait_for(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#generate"), "the page")
    assert "untrained" in page.find_element(By.ID, "untrained-banner").text

    page.find_element(By.ID, "generate").click()  # nothing typed yet: the user is told what to do
    wait_for(page, lambda d: "description is empty" in d.find_element(By.TAG_NAME, "body").text, "the error")

    page.find_element(By.CSS_SELECTOR, "#description textarea").send_keys("Translate English sentences into French.")
    page.find_element(By.ID, "generate").click()
    status = wait_for(
        page, lambda d: "Generated in" in (t := d.find_element(By.ID, "adapter-status").text) and t, "the adapter"
    )
    assert "parameters" in status and "Translate English sentences into French." in status

    page.find_element(By.CSS_SELECTOR, "#message textarea").send_keys("Hello there")
    page.find_element(By.ID, "send").click()
    wait_for(page, lambda d: bot_messages(d, "adapted-chat") and bot_messages(d, "base-chat"), "both answers")
    wait_for(page, lambda d: not d.find_elements(By.CSS_SELECTOR, ".generating"), "the stream to end")
    adapted, base = bot_messages(page, "adapted-chat"), bot_messages(page, "base-chat")
    assert len(adapted) == len(base) == 1 and adapted != base
    assert page.find_element(By.CSS_SELECTOR, "#message textarea").get_attribute("value") == ""

    page.find_element(By.ID, "download").click()
    link = wait_for(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#archive a[download]"), "the zip link")
    assert link[0].get_attribute("download").endswith(".zip")

    shots = Path(os.environ.get("T2L_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    assert page.save_screenshot(str(shots / "space.png"))
