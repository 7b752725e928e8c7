"""The delivery log page at `/`: off without RELAY_UI_TOKEN, token-protected, escaped, filtered;
driven once in headless Chromium as a person would use it."""

from __future__ import annotations

import os

import pytest
import requests

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.web.app import create_app
from relay.web.server import WebServer
from relay.web.ui import cookie_value

UI_TOKEN = "ui-token-0123456789abcdef"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# without the background-networking flags Chromium reaches for the (closed) network
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1000"]


@pytest.fixture
def history(make_runtime, two_teams, guance, feishu, clock):
    """A runtime whose outbox holds one dead delivery (db, Feishu down) and one sent (ops)."""
    rt = make_runtime(ui_token=UI_TOKEN, delivery_max_age_seconds=60, **two_teams)
    poll(rt)
    clock.advance(10)
    dead = guance.add_issue("disk <b>full</b> on db-1", channels=["db"], level="system_level_0")
    feishu.down_until = clock.now() + 500
    clock.advance(1)
    poll(rt)
    deliver(rt)
    clock.advance(100)
    deliver(rt)  # over RELAY_DELIVERY_MAX_AGE_SECONDS: dead
    clock.advance(500)
    sent = guance.add_issue("cpu high on web-3", channels=["ops"])
    clock.advance(1)
    poll(rt)
    deliver(rt)
    return rt, dead, sent


def test_page_is_off_without_a_token_and_says_how_to_turn_it_on(make_runtime):
    resp = create_app(make_runtime()).test_client().get("/")
    assert resp.status_code == 404
    assert "RELAY_UI_TOKEN" in resp.get_data(as_text=True)


def test_page_needs_the_token_and_moves_it_into_a_cookie(history):
    rt, _, _ = history
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        assert requests.get(f"{server.url}/", timeout=5).status_code == 401
        assert requests.get(f"{server.url}/?token=wrong", timeout=5).status_code == 401
        session = requests.Session()
        resp = session.get(f"{server.url}/?token={UI_TOKEN}&status=dead", timeout=5)
        assert resp.status_code == 200
        assert resp.url == f"{server.url}/?status=dead"  # the token left the address bar
        assert "Delivery log" in resp.text
        assert session.get(f"{server.url}/", timeout=5).status_code == 200  # by cookie
        bearer = requests.get(f"{server.url}/", timeout=5,
                              headers={"Authorization": f"Bearer {UI_TOKEN}"})
        assert bearer.status_code == 200
    finally:
        server.stop()


def test_the_cookie_holds_no_token_and_is_httponly_strict_and_secure_over_https(history):
    rt, _, _ = history
    client = create_app(rt).test_client()
    login = client.get(f"/?token={UI_TOKEN}")
    assert login.status_code == 302
    cookie = login.headers["Set-Cookie"]
    name, _, rest = cookie.partition("=")
    value = rest.split(";")[0]
    assert name == "relay_ui" and value and UI_TOKEN not in cookie
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path"} <= attributes and "secure" not in attributes
    assert "SameSite=Strict" in cookie
    assert client.get("/").status_code == 200  # the derived value lets the browser in
    stolen = create_app(rt).test_client()
    stolen.set_cookie("relay_ui", UI_TOKEN)  # the token itself is no cookie
    assert stolen.get("/").status_code == 401
    # over HTTPS (to relay, or to a proxy that says so) the cookie is Secure
    for kwargs in ({"base_url": "https://relay.example"},
                   {"headers": {"X-Forwarded-Proto": "https"}}):
        resp = create_app(rt).test_client().get(f"/?token={UI_TOKEN}", **kwargs)
        assert "; Secure" in resp.headers["Set-Cookie"]


def test_the_cookie_is_secure_by_setting(make_runtime):
    rt = make_runtime(ui_token=UI_TOKEN, ui_cookie_secure=True)
    resp = create_app(rt).test_client().get(f"/?token={UI_TOKEN}")
    assert "; Secure" in resp.headers["Set-Cookie"]


@pytest.mark.parametrize("path", ["/", f"/?token={UI_TOKEN}", "/?token=wrong"])
def test_every_answer_of_the_page_is_uncached_unframed_and_scriptless(history, make_runtime,
                                                                     path):
    rt, _, _ = history
    client = create_app(rt).test_client()
    client.set_cookie("relay_ui", cookie_value(UI_TOKEN))
    resp = client.get(path)
    assert resp.status_code in (200, 302, 401)
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY"
    policy = dict(p.strip().split(" ", 1) for p in resp.headers["Content-Security-Policy"]
                  .split(";"))
    assert policy["default-src"] == "'none'" and "script-src" not in policy  # no script at all
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"
    off = create_app(make_runtime()).test_client().get("/")  # the page is off
    assert off.status_code == 404 and off.headers["Cache-Control"] == "no-store"


def test_page_escapes_titles_filters_by_channel_and_rejects_unknown_filters(history):
    rt, dead, sent = history
    client = create_app(rt).test_client()
    client.set_cookie("relay_ui", cookie_value(UI_TOKEN))
    html = client.get("/").get_data(as_text=True)
    assert "disk &lt;b&gt;full&lt;/b&gt; on db-1" in html and "<b>full</b>" not in html
    ops = client.get("/?channel=ops").get_data(as_text=True)
    assert sent in ops and dead not in ops
    bad = client.get("/?status=<script>")
    assert bad.status_code == 400
    assert "<script>" not in bad.get_data(as_text=True)
    assert "status must be one of" in bad.get_data(as_text=True)


def test_page_shows_replies(history, guance):
    rt, dead, _ = history
    client = create_app(rt).test_client()
    auth = {"Authorization": "Bearer test-reply-token-0123456789"}
    assert client.post("/feishu/reply", headers=auth,
                       json={"content": f"#{dead}#freed 20 GB"}).status_code == 200
    assert client.post("/feishu/reply", headers=auth, json={"content": "#nope"}).status_code == 400
    client.set_cookie("relay_ui", cookie_value(UI_TOKEN))
    html = client.get("/").get_data(as_text=True)
    replies = html[html.index('id="replies"'):]
    assert "freed 20 GB" in replies and dead in replies
    assert "missing the" in replies  # the parse error, as the sender was told


@pytest.fixture
def browser(tmp_path, monkeypatch):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI (.ci/run installs chromium and chromium-driver)")
        pytest.skip("Chromium not installed (apt-get install chromium chromium-driver); CI runs "
                    "this")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def test_in_chromium_a_dead_delivery_shows_its_error_and_the_status_filter_works(history,
                                                                                 browser):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    rt, dead, sent = history
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        browser.get(f"{server.url}/?token={UI_TOKEN}")
        # the page's own styles apply under its Content-Security-Policy
        header = browser.find_element(By.CSS_SELECTOR, "#deliveries th")
        assert header.value_of_css_property("background-color") == "rgba(243, 243, 243, 1)"
        rows = browser.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")
        by_issue = {r.get_attribute("data-issue"): r for r in rows}
        assert set(by_issue) == {dead, sent}
        dead_row = by_issue[dead].find_elements(By.TAG_NAME, "td")
        assert dead_row[3].text == "disk <b>full</b> on db-1"  # shown as text, not markup
        assert dead_row[5].text == "dead"
        assert "500" in dead_row[7].text  # Feishu's answer, as the last error
        assert by_issue[sent].find_elements(By.TAG_NAME, "td")[5].text == "sent"

        def show(status: str) -> list[str]:
            """Choose a status in the form, press Show, wait for the new page: its rows."""
            Select(browser.find_element(By.ID, "status")).select_by_value(status)
            browser.find_element(By.ID, "apply").click()
            # the new page, loaded: chromedriver may answer a look at the old page's elements
            # mid-navigation with an inspector error rather than "stale", so wait on the URL
            WebDriverWait(browser, 20, ignored_exceptions=(WebDriverException,)).until(
                lambda page: page.current_url.endswith(f"?status={status}&channel=")
                and page.execute_script("return document.readyState") == "complete")
            assert browser.current_url.endswith(f"?status={status}&channel=")
            rows = browser.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")
            return [r.get_attribute("data-issue") for r in rows]

        assert show("dead") == [dead]
        assert show("sent") == [sent]
        assert show("pending") == [None]  # the "No deliveries match" row
        assert "No deliveries match" in browser.find_element(By.ID, "deliveries").text
    finally:
        server.stop()
