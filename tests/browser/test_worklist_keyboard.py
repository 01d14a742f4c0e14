"""The services' worklist worked with the keyboard alone (Tab, Shift+Tab, Space, Enter): two
requests ticked and acknowledged, every request of the page ticked at once, a column sorted, and
the focus always visible. The page is never clicked; where the focus is, is read to know when to
stop tabbing, as a sighted keyboard user sees it."""

from __future__ import annotations

import re
from typing import Any

MAX_TABS = 400
LIST = "/worklist?lang=en&norm=boston.target&state=open_overdue&sort=request"


def focused(web: Any, selector: str) -> bool:
    return bool(
        web.page.evaluate(f"() => document.activeElement && document.activeElement.matches({selector!r})")
    )


def tab_to(web: Any, selector: str, back: bool = False) -> None:
    """Tab (Shift+Tab with ``back``) until the element ``selector`` has the focus."""
    for _ in range(MAX_TABS):
        if focused(web, selector):
            return
        web.page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{selector} never got the focus")


def outline(web: Any) -> str:
    return str(
        web.page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle + ' ' + s.outlineWidth; }"
        )
    )


def test_two_requests_are_acknowledged_with_the_keyboard_only(web):
    web.login("service")
    web.goto(LIST)
    rows = web.page.locator("tr[data-id]")
    new = [
        rows.nth(i).get_attribute("data-id")
        for i in range(rows.count())
        if rows.nth(i).locator("td[data-status]").get_attribute("data-status") in ("new", "open")
    ][:2]
    assert len(new) == 2
    first, second = new
    box = "input[type=checkbox][name=ids][value='{}']"
    web.page.locator("body").focus()
    tab_to(web, box.format(first))
    assert outline(web).split()[0] != "none"  # the focus shows
    web.page.keyboard.press("Space")
    tab_to(web, box.format(second))
    web.page.keyboard.press("Space")
    assert web.page.locator(box.format(first)).is_checked()
    assert web.page.locator(box.format(second)).is_checked()
    # back up to the bulk form: its action is "Acknowledge" already; a note, then Enter
    tab_to(web, "#bulk select[name=status]", back=True)
    assert web.page.locator("#bulk select[name=status]").input_value() == "acknowledged"
    tab_to(web, "#bulk input[name=note]")
    web.page.keyboard.type("Seen on the morning round")
    with web.page.expect_navigation():
        web.page.keyboard.press("Enter")
    text = web.page.locator("body").inner_text()
    assert re.search(r"2 requests are now acknowledged", text), text[:500]
    for request_id in (first, second):
        cell = web.page.locator(f"tr[data-id='{request_id}'] td[data-status]")
        assert cell.get_attribute("data-status") == "acknowledged"


def test_every_request_is_ticked_and_a_column_sorted_with_the_keyboard(web):
    web.login("service")
    web.goto(LIST)
    web.page.locator("body").focus()
    tab_to(web, "#tick-all")
    web.page.keyboard.press("Space")
    boxes = web.page.locator("input[type=checkbox][name=ids]")
    assert boxes.count() > 0
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    # a column header is a link: Enter sorts by it, and the header says how
    tab_to(web, "th a[href*='sort=reported']")
    assert outline(web).split()[0] != "none"
    with web.page.expect_navigation():
        web.page.keyboard.press("Enter")
    assert "sort=reported" in web.page.url
    assert web.page.locator("th[aria-sort='ascending'] a", has_text="Reported").count() == 1
