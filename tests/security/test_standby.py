"""A standby (HA) hands requests to the leader with their credentials, and relays the leader's 401 and 403 as
they are (not as a 502): authentication and authorisation are the leader's, on its current principals."""

from __future__ import annotations

import aiohttp

from tests.api.leadership import Leadership, address, api_app, serve
from tests.security.conftest import Secured, bearer


async def test_a_standby_forwards_credentials_and_relays_refusals(secured: Secured) -> None:
    s = secured
    view = Leadership(leader=address(s.server), is_leader=False)
    standby = api_app(view)
    async with serve(standby, view) as server, aiohttp.ClientSession() as http:
        base = str(server.make_url("")).rstrip("/")
        async with http.get(base + "/v2/apps") as response:
            assert response.status == 401 and "WWW-Authenticate" in response.headers
            assert await response.json() == {"message": "Authentication required"}
        async with http.post(base + "/v2/apps", headers=bearer(s.tokens["deployer-a"]),
                             json={"id": "/team-b/web", "cmd": "sleep 1"}) as response:
            assert response.status == 403
            assert await response.json() == {"message": "Not Authorized to perform this action!"}
        async with http.post(base + "/v2/apps", headers=bearer(s.tokens["deployer-a"]),
                             json={"id": "/team-a/web", "cmd": "sleep 600", "cpus": 0.05, "mem": 16}) as response:
            assert response.status == 201
            assert "X-Marathon-Via" in response.headers  # it went through the standby
    assert [r["principal"] for r in (await s.call("GET", "/v2/audit", "admin"))[1]["records"]] == ["deployer-a"]
