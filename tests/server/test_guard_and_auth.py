"""DNS-rebinding guard and bearer-token auth, over real sockets."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import openai
import pytest

from tests.harness import Woollama


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory):
    from tests.harness import start, write_config

    root = tmp_path_factory.mktemp("guarded")
    write_config(root / "config")
    server = start(
        root,
        {
            "WOOLLAMA_TOKEN": "s3cret-token",
            "WOOLLAMA_ALLOWED_ORIGINS": "https://app.example.com",
            "WOOLLAMA_ALLOWED_HOSTS": "woollama.internal",
        },
    )
    yield server
    server.stop()


AUTH = {"Authorization": "Bearer s3cret-token"}


@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:80", "192.168.1.10", "[2001:db8::1]:1"]
)
def test_foreign_host_header_is_refused(guarded: Woollama, host: str):
    response = guarded.http().get("/v1/models", headers={**AUTH, "Host": host})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_host"


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1:1234", "[::1]:80", "woollama.internal", "LOCALHOST"]
)
def test_loopback_and_allowed_hosts_pass(guarded: Woollama, host: str):
    assert guarded.http().get("/v1/models", headers={**AUTH, "Host": host}).status_code == 200


@pytest.mark.parametrize(
    "origin", ["https://evil.example.com", "null", "http://localhost.evil.com"]
)
def test_foreign_browser_origin_is_refused(guarded: Woollama, origin: str):
    response = guarded.http().get("/v1/models", headers={**AUTH, "Origin": origin})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_origin"


@pytest.mark.parametrize(
    "origin", ["http://localhost:3000", "http://127.0.0.1:8080", "https://app.example.com"]
)
def test_loopback_and_allowed_origins_pass(guarded: Woollama, origin: str):
    assert guarded.http().get("/v1/models", headers={**AUTH, "Origin": origin}).status_code == 200


def test_guard_applies_to_post_routes_too(guarded: Woollama):
    response = guarded.http().post(
        "/v1/chat/completions", headers={**AUTH, "Origin": "https://evil.example.com"}, json={}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("headers", [{"Host": "evil.example.com"},
                                     {"Origin": "https://evil.example.com"}])  # fmt: skip
def test_the_guard_answers_the_messages_routes_in_anthropics_shape(
    guarded: Woollama, headers: dict[str, str]
):
    client = anthropic.Anthropic(base_url=f"http://{guarded.address}", api_key="s3cret-token",
                                 max_retries=0, default_headers=headers)  # fmt: skip
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        client.messages.create(model="x/y", max_tokens=1, messages=[{"role": "user",
                                                                    "content": "hi"}])  # fmt: skip
    assert info.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert "not" in info.value.body["error"]["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer", "s3cret-token"]
)
def test_tcp_requests_without_the_token_get_401(guarded: Woollama, authorization: str | None):
    headers = {"Authorization": authorization} if authorization else {}
    response = guarded.http().get("/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "authentication_error"


def test_sdk_with_the_token_is_served(guarded: Woollama):
    assert guarded.client(api_key="s3cret-token").models.list().object == "list"
    with pytest.raises(openai.AuthenticationError):
        guarded.client(api_key="nope").models.list()


def test_unix_socket_is_exempt_from_token_and_host_check(guarded: Woollama):
    assert guarded.unix_client().models.list().object == "list"


def test_off_loopback_bind_is_allowed_with_a_token(woollama: Callable[..., Woollama]):
    # 127.0.0.2 is not the loopback *name* of the default bind but is still local
    # here; the point is that WOOLLAMA_ADDRESS + WOOLLAMA_TOKEN starts and auths.
    server = woollama(env={"WOOLLAMA_ADDRESS": "127.0.0.2:0", "WOOLLAMA_TOKEN": "t"})
    assert server.address.startswith("127.0.0.2:")
    assert server.client(api_key="t").models.list().object == "list"
