"""`count_tokens` asks the backend's own tokenizer where it has one."""

from __future__ import annotations

from collections.abc import Callable

import anthropic

from tests.fakes.llama_server import FakeLlamaServer, render, tokenize
from tests.harness import Woollama

TOOL = {
    "name": "read",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}


def test_llama_server_counts_the_rendered_prompt_exactly(woollama: Callable[..., Woollama]):
    with FakeLlamaServer() as engine:
        server = woollama(inferencers=f'[inferencers.llama]\nbase_url = "{engine.base_url}"\n')
        client = anthropic.Anthropic(
            base_url=f"http://{server.address}", api_key="unused", max_retries=0
        )
        counted = client.messages.with_raw_response.count_tokens(
            model="llama/any",
            system="Be brief.",
            tools=[TOOL],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "What is in notes.txt?"}],
        )
        assert counted.headers["woollama-token-count"] == "template"
        [rendered] = [r.body for r in engine.requests if r.path == "/apply-template"]
        expected = len(tokenize(render(rendered), add_special=False))
        assert counted.parse().input_tokens == expected
        assert rendered["messages"][0] == {"role": "system", "content": "Be brief."}
        assert [t["function"]["name"] for t in rendered["tools"]] == ["read"]
        # Learnt once: the second count goes straight to the route that worked.
        client.messages.count_tokens(
            model="llama/any", messages=[{"role": "user", "content": "hi"}]
        )
        assert [r.path for r in engine.requests] == ["/apply-template", "/tokenize"] * 2
