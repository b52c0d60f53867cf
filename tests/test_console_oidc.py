"""OIDC login is wired to st.login: with OIDC configured, "Log in" sends the browser to the identity provider's
authorization endpoint with the console's client id and redirect URI.

No identity provider can run here, so a loopback stand-in serves the discovery document and records the
authorization request; completing the token exchange is Streamlit's and Authlib's part.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from browser_helpers import CHROMIUM, CHROMIUM_ARGS
from network.ports import free_port
from test_console_browser import serving_console


class _Provider(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server hook name
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/.well-known/openid-configuration"):
            body = json.dumps({"issuer": base, "authorization_endpoint": f"{base}/authorize",
                               "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/jwks",
                               "response_types_supported": ["code"], "subject_types_supported": ["public"],
                               "id_token_signing_alg_values_supported": ["RS256"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
            return
        _Provider.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>stand-in identity provider</body></html>")

    def log_message(self, *args):
        pass


@pytest.fixture
def provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Provider.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_log_in_goes_to_the_identity_provider(database_url, tmp_path: Path, provider):
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: `./run test` installs Debian's chromium"
    from playwright.sync_api import sync_playwright

    port = free_port()
    redirect = f"http://127.0.0.1:{port}/oauth2callback"
    env = {"COALITION_CONSOLE_OIDC_CLIENT_ID": "coalition-console", "COALITION_CONSOLE_OIDC_CLIENT_SECRET": "s3cret",
           "COALITION_CONSOLE_OIDC_SERVER_METADATA_URL": f"{provider}/.well-known/openid-configuration",
           "COALITION_CONSOLE_OIDC_REDIRECT_URI": redirect, "COALITION_CONSOLE_OIDC_COOKIE_SECRET": "c" * 32}
    with serving_console(database_url, tmp_path, port, env) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{provider}/authorize*", timeout=30_000)
        browser.close()
    authorize = [r for r in _Provider.requests if r.startswith("/authorize")]
    assert authorize, _Provider.requests
    query = parse_qs(urlparse(authorize[0]).query)
    assert query["client_id"] == ["coalition-console"]
    assert query["redirect_uri"] == [redirect]
    assert query["response_type"] == ["code"]
