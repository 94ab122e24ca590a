"""The coordinator's public port: hospitals reach Flower's Fleet API there, and nothing else.

Flower 1.41's SuperLink serves its Fleet API (SuperNodes), Control API (run submission, node registration)
and Runtime API (the ServerApp's link) on one `--host/--port`, with no setting to split them, so anyone who
can reach the hospitals' address could submit a run. `cardiofed coordinator start` therefore binds the
SuperLink to loopback only, and serves this gateway on the public address instead: over TLS with the
SuperLink's own certificate, it forwards `/v1/fleet/...` requests (and the health check) unchanged to the
loopback SuperLink, whose node authentication still decides who may join, and answers every other path
with 403. Run submission is thereby possible only from the coordinator's own machine.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

#: Paths a hospital may reach: the Fleet API (SuperNodes) and the SuperLink's health check.
FLEET_PREFIX = "/v1/fleet/"
HEALTH_PATH = "/health"
#: Hop-by-hop headers (RFC 9110, 7.6.1) are the connection's own and are not forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)
#: httpx hands over the body decoded, so its length and encoding headers are recomputed, not copied.
_BODY_HEADERS = frozenset({"content-length", "content-encoding"})
#: Long enough for the largest object a SuperNode pulls on a slow link.
UPSTREAM_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway listens (public) and where the SuperLink it fronts listens (loopback)."""

    host: str
    port: int
    upstream: str  # https://127.0.0.1:PORT of the SuperLink
    ca_certificate: Path  # verifies the SuperLink's certificate on the loopback hop
    certificate: Path  # the SuperLink's certificate and key, presented to hospitals
    key: Path


def is_fleet_path(path: str) -> bool:
    """Whether a request path belongs to what hospitals may use."""
    return path.startswith(FLEET_PREFIX) or path == HEALTH_PATH


def create_gateway(settings: GatewaySettings) -> Starlette:
    """The ASGI app: Fleet API requests go to the SuperLink as they came; anything else is refused."""
    upstream_tls = ssl.create_default_context(cafile=str(settings.ca_certificate))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=settings.upstream, verify=upstream_tls, timeout=UPSTREAM_TIMEOUT_S
        ) as client:
            app.state.upstream = client
            yield

    async def forward(request: Request) -> Response:
        path = request.url.path
        if not is_fleet_path(path):
            return JSONResponse(
                {"error": f"{path} is not served on this port: hospitals reach the Fleet API only"},
                status_code=403,
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        client: httpx.AsyncClient = request.app.state.upstream
        try:
            upstream = await client.request(
                request.method,
                path,
                params=request.query_params,
                headers=headers,
                content=await request.body(),
            )
        except httpx.TransportError as error:
            return JSONResponse({"error": f"the SuperLink is not reachable: {error}"}, status_code=503)
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP | _BODY_HEADERS}
        return Response(upstream.content, status_code=upstream.status_code, headers=kept)

    catch_all = Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    return Starlette(routes=[catch_all], lifespan=lifespan)


def serve_gateway(settings: GatewaySettings) -> None:
    """Serve the gateway in the foreground (until SIGINT/SIGTERM, which uvicorn handles)."""
    uvicorn.run(
        create_gateway(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.certificate),
        ssl_keyfile=str(settings.key),
        log_level="warning",
        access_log=False,
    )
