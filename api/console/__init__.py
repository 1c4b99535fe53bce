"""The operator console: server-rendered pages under `/console` on the API's own Starlette app.

Pages call the service layer directly (never HTTP to ourselves) with the same roles and ownership
rules as the API. `pages.page` declares a page; `session` holds sign-in links, cookies and CSRF;
`render` the templates. Words shown to people live here, not in `domain/`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.console import clinic, exports, ops, orders, queue, signin, stuck


def console_routes() -> list[BaseRoute]:
    return [
        Route("/", signin.root, methods=["GET"], include_in_schema=False),
        Route("/console/sign-in", signin.sign_in_form, methods=["GET"], include_in_schema=False),
        Route("/console/sign-in", signin.sign_in, methods=["POST"], include_in_schema=False),
        signin.sign_out,
        signin.home,
        orders.find,
        orders.order_page,
        orders.take_action,
        queue.queue,
        stuck.stuck,
        ops.projections,
        exports.exports,
        exports.create,
        exports.download,
        ops.rebuild,
        ops.progress,
        *clinic.routes,
        Mount("/console/static", StaticFiles(packages=[("api.console", "static")]), name="console_static"),
    ]
