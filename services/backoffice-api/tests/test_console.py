"""The console's files through the real ASGI app: served from the package under /console with the security
headers on every answer, no inline script or style anywhere, no markup built from strings; /v1/me."""

from __future__ import annotations

import re

from backoffice_api.console import ASSETS

COMPANY = "cmp_A"


async def test_console_is_served_with_a_strict_csp_and_security_headers(client):
    for path in ("/console/", "/console/js/app.js", "/console/console.css", "/console/missing.js"):
        response = await client.get(path)
        assert response.status_code == (404 if "missing" in path else 200), path
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
    page = await client.get("/console/")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js"></script>' in page.text
    module = await client.get("/console/js/app.js")
    assert module.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}


async def test_console_root_redirects_to_its_index(client):
    response = await client.get("/console")
    assert response.status_code in {301, 307, 308} and response.headers["location"].endswith("/console/")


def test_console_ships_no_inline_code_and_never_parses_strings_as_html():
    html = (ASSETS / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html and " style=" not in html and re.search(r"\son[a-z]+=", html) is None
    for module in ASSETS.rglob("*.js"):
        text = module.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in text, f"{module.name} uses {sink}"
        assert "localStorage.setItem(KEY" not in text  # the key stays in sessionStorage
        assert re.search(r"https?://(?!www\.w3\.org/2000/svg)", text) is None, (
            f"{module.name} loads from elsewhere"
        )


async def test_me_names_the_keys_company_and_scopes(client, make_key):
    key = await make_key(COMPANY, scopes=("leads:read", "events:read"))
    response = await client.get("/v1/me", headers={"X-API-Key": key})
    assert response.status_code == 200
    body = response.json()
    assert body["company_id"] == COMPANY and body["scopes"] == ["events:read", "leads:read"]
    assert body["key_id"].startswith("key_") and key not in response.text
    assert (await client.get("/v1/me")).status_code == 401


def test_the_first_pages_modules_are_all_preloaded_and_the_other_pages_are_not():
    # The shell's static imports, followed through: exactly what index.html preloads (the first page then
    # fetches its modules in one round, not level by level); the pages loaded on demand stay out of it.
    static = re.compile(r'^import [^;]*? from "(\.{1,2}/[^"]+)";', re.MULTILINE)
    reached, todo = set(), [ASSETS / "js" / "app.js"]
    while todo:
        module = todo.pop()
        for target in static.findall(module.read_text()):
            path = (module.parent / target).resolve()
            if path not in reached:
                reached.add(path)
                todo.append(path)
    preloaded = re.findall(r'<link rel="modulepreload" href="([^"]+)">', (ASSETS / "index.html").read_text())
    assert {str(p.relative_to(ASSETS.resolve())) for p in reached} == set(preloaded)
    assert "js/pages/deal.js" not in preloaded
