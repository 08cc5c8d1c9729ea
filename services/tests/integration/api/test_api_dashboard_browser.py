"""The dashboard in real headless Chromium against the real API: log in, market, chart, order, portfolio.

Builds the dashboard when its sources are newer than frontend/dist (``make test`` builds it first).
Screenshots of every page go to ``e2e/artifacts/dashboard/``. Live prices through the bridge need
the whole pipeline and are covered by the end-to-end suite; here the bridge is absent and the page
shows it as reconnecting while the API's data fills it.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from api_harness import REPO, RunningApi, create_account, login, seed_market

FRONTEND = REPO / "frontend"
ARTIFACTS = REPO / "e2e" / "artifacts" / "dashboard"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _built() -> Path:
    dist = FRONTEND / "dist"
    sources = [*FRONTEND.joinpath("src").rglob("*"), FRONTEND / "index.html", FRONTEND / "package-lock.json"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if not (dist / "index.html").exists() or (dist / "index.html").stat().st_mtime < newest:
        if not (FRONTEND / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True, timeout=600)
        subprocess.run(["npm", "run", "build"], cwd=FRONTEND, check=True, timeout=600)
    return dist


@pytest.fixture(scope="module")
def dist() -> Path:
    return _built()


@pytest.fixture
def settings_overrides(dist: Path) -> dict[str, object]:
    return {"frontend_dir": dist}


async def test_dashboard_pages_in_chromium(api: RunningApi, users: dict[str, int]) -> None:
    from playwright.async_api import async_playwright

    assert CHROMIUM, "Debian's chromium is required for the browser tests"
    await seed_market(api.pool, now_s=api.clock.now_ns() / 1e9)
    async with api.client() as admin:
        await login(admin, "admin")
        await create_account(admin, "trader", name="trader-paper")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            await page.goto(api.base_url)
            await page.screenshot(path=ARTIFACTS / "login.png")
            await page.fill("input[name=username]", "trader")
            await page.fill("input[name=password]", "wrong-password-here")
            await page.click("button[type=submit]")
            await page.wait_for_selector("text=invalid username or password")
            await page.fill("input[name=password]", "correct-horse-battery-staple")
            await page.click("button[type=submit]")

            await page.wait_for_selector("[data-testid=quote-binance-BTC-USDT]")
            row = page.locator("[data-testid=quote-kraken-BTC-USDT]")
            assert await row.locator("[data-testid=bid]").inner_text() == "64,009.00"
            # kraken's BTC bid is above binance's ask: the cross-exchange spread is highlighted
            assert "cross" in (await row.get_attribute("class") or "")
            await page.screenshot(path=ARTIFACTS / "market.png", full_page=True)

            await page.click("[data-testid=nav-chart]")
            await page.wait_for_selector("[data-testid=chart-status]:has-text('candles')")
            status = await page.locator("[data-testid=chart-status]").inner_text()
            assert int(status.split()[0]) > 0
            await page.screenshot(path=ARTIFACTS / "chart.png", full_page=True)

            await page.click("[data-testid=nav-trade]")
            await page.wait_for_selector("[data-testid=order-ticket] select[name=account] option", state="attached")
            await page.fill("input[name=quantity]", "0.01")
            await page.fill("input[name=limit_price]", "63000.00")
            await page.click("[data-testid=order-ticket] button[type=submit]")
            await page.wait_for_selector("[data-testid=order-message]:has-text('queued')")
            await page.wait_for_selector("[data-testid=order-row]")
            assert "pending_new" in await page.locator("[data-testid=order-row]").first.inner_text()
            await page.screenshot(path=ARTIFACTS / "trade.png", full_page=True)
            assert await api.redis.xlen(api.settings.orders_stream) == 1

            await page.click("[data-testid=nav-portfolio]")
            await page.wait_for_selector("[data-testid=portfolio-summary]")
            await page.screenshot(path=ARTIFACTS / "portfolio.png", full_page=True)

            await page.click("[data-testid=nav-health]")
            await page.wait_for_selector("[data-testid=health-table] tbody tr")
            await page.screenshot(path=ARTIFACTS / "health.png", full_page=True)
        finally:
            await browser.close()
