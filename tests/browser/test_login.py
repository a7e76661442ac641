"""Staff log in through the real admin login page in chromium."""
import pytest

pytestmark = pytest.mark.browser


def test_staff_log_in_and_land_on_the_admin(page, staff):
    page.goto("/admin/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", "staff")
    page.fill("#id_password", "wrong")
    page.click("input[type=submit]")
    assert page.locator(".errornote").is_visible()
    page.shot("refused")
    page.fill("#id_password", "browser-test-password")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME")
    page.shot("landed")
