"""The HTTP session every vendor client uses: what it takes from the environment."""
from __future__ import annotations

import threading

import pytest

from vendors.integrations import base
from vendors.integrations.base import VendorError


def in_a_new_thread(fn):
    """Sessions are per thread: a new thread builds one from the environment as it is now."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out


@pytest.fixture
def plain_client(sandbox):
    class Client(base.VendorClient):
        label = "Test vendor"

    class Account:
        credentials, base_url, timeout_seconds = {}, sandbox.url("aktify"), 5

    return lambda: Client(Account(), None)


def test_credentials_in_a_netrc_file_never_reach_a_vendor(plain_client, sandbox, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    in_a_new_thread(lambda: plain_client().send("POST", "/api/v1/leads/end-contact",
                                                json_body={"phoneNumberList": []}))  # 401: no key

    [received] = sandbox.requests("aktify")
    assert "authorization" not in {name.lower() for name in received["headers"]}


def test_a_proxy_in_the_environment_is_used(plain_client, sandbox, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    out = in_a_new_thread(lambda: plain_client().send("POST", "/api/v1/leads/end-contact",
                                                      json_body={"phoneNumberList": []}))

    assert isinstance(out.get("error"), VendorError) and out["error"].code == "connection_error"
    assert sandbox.requests("aktify") == []  # it went to the proxy, which is not there
