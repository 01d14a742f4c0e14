"""The services' worklist at a 1,366 px wide screen: every column, actions included, is in view."""

from __future__ import annotations


def test_the_worklist_fits_1366_pixels(web):
    web.page.set_viewport_size({"width": 1366, "height": 768})
    web.login("service")
    web.goto("/worklist?lang=en&norm=boston.target")
    assert web.page.locator("tr[data-id]").count() > 0
    right = web.page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('table.worklist th, table.worklist td')]"
        ".map(c => c.getBoundingClientRect().right))"
    )
    assert right <= 1366, f"the table ends at {right} px"
    width = web.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1366, f"the page scrolls sideways ({width} px)"
    # the actions open in place, and a column header sorts the list
    web.page.locator("tr[data-id]").first.locator("summary", has_text="Change status").click()
    assert web.page.locator("tr[data-id]").first.locator("select[name=status]").is_visible()
    web.page.locator("th a", has_text="Reported").click()
    web.page.wait_for_load_state("networkidle")
    assert "sort=reported" in web.page.url
    assert web.page.locator("th[aria-sort] a", has_text="Reported").count() == 1
