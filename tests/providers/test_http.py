from __future__ import annotations

import pytest

from woollama.providers.http import proxy_for


def test_proxy_comes_from_the_environment_per_scheme(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert proxy_for("https://api.groq.com/openai/v1") == "http://proxy.internal:3128"
    assert proxy_for("http://api.example.com/v1") is None
    assert proxy_for("https://localhost:8443/v1") is None
