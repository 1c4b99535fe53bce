"""Ops in the browser: projections with position, lag and last error; a rebuild with live progress."""

from __future__ import annotations

from ledger.demo import seed
from tests.console.conftest import Console
from tests.support.vendors import ORG


def test_ops_rebuilds_a_projection_and_watches_it_finish(console: Console) -> None:
    seed(console.stack.runtime, ORG)
    console.stack.runtime.refresh_views()  # as the projection worker of `ledger serve` would
    page = console.signed_in("ops")
    page.click("nav >> text=Projections")
    page.wait_for_url("**/console/projections")
    names = page.locator("tr[data-projection]").evaluate_all("rows => rows.map(r => r.dataset.projection)")
    assert {"order_status", "cs_orders"} <= set(names)
    row = page.locator("tr[data-projection=order_status]")
    position, head = (int(x) for x in row.locator("td[data-label=Position]").inner_text().split(" / "))
    assert 0 < position <= head
    row.locator("button", has_text="Rebuild order_status").click()
    page.wait_for_url("**/console/projections?started=order_status")
    rebuild = page.locator("tr[data-projection=order_status] .rebuild")
    page.locator("tr[data-projection=order_status] .rebuild[data-finished=done]").wait_for(timeout=15_000)
    assert rebuild.locator("[data-field=phase]").inner_text() == "done"
    done = int(rebuild.locator("span[data-field=done]").inner_text())
    assert done == int(rebuild.locator("span[data-field=total]").inner_text()) and done > 0
    console.shot(page, "projections")


def test_the_projection_pages_are_for_ops_only(console: Console) -> None:
    cs = console.signed_in("cs")
    response = cs.goto(console.url + "/console/projections")
    assert response is not None and response.status == 403
    assert "Projections" not in cs.inner_text("nav")
