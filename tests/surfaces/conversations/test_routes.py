"""/v1/conversations through the real SDK: store-backed handles, paging, keys, 501s."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes.openai_backend import FakeOpenAI
from tests.harness import Woollama, fake_inferencer, start, write_config

EXAMPLES = Path(__file__).parents[3] / "examples"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as backend:
        yield backend


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI) -> Iterator[Woollama]:
    root = tmp_path_factory.mktemp("conversations")
    threads = root / "threads"
    write_config(
        root / "config",
        inferencers=fake_inferencer(fake),
        mcp={
            "mcpServers": {
                "threads": {"command": sys.executable, "args": [str(EXAMPLES / "store_mcp.py"),
                                                               str(threads)]},
            },
            "conversationStore": "threads",
        },
    )  # fmt: skip
    running = start(root)
    running.http().get("/v1/tools", params={"wait": 20})
    yield running
    running.stop()


def create(server: Woollama, *, status: int = 201, **extra) -> dict:
    response = server.http().post("/v1/conversations", json={"model": "fake/m", **extra})
    assert response.status_code == status, response.text
    return response.json()


def test_sdk_creates_retrieves_and_deletes_a_conversation(server: Woollama):
    client = server.client()
    conv = client.conversations.create(metadata={"topic": "tests"}, extra_body={"model": "fake/m"})
    assert conv.id.startswith("conv_")
    assert conv.metadata == {"topic": "tests"}
    again = client.conversations.retrieve(conv.id)
    assert again.id == conv.id
    assert again.model_extra["backend"] == "store-backed"
    assert again.model_extra["status"] == "idle"
    updated = client.conversations.update(conv.id, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"}
    deleted = client.conversations.delete(conv.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)


def test_known_key_returns_the_existing_conversation(server: Woollama):
    first = create(server, key="user-42")
    second = create(server, key="user-42", status=200)
    assert first["id"] == second["id"]


def test_creating_answers_201_and_the_sdk_takes_it(server: Woollama):
    raw = server.client().conversations.with_raw_response.create(extra_body={"model": "fake/m"})
    assert raw.status_code == 201
    conv = raw.parse()
    assert conv.id.startswith("conv_")
    assert server.client().conversations.retrieve(conv.id).id == conv.id


def test_items_of_a_new_conversation_are_empty(server: Woollama):
    conv = server.client().conversations.create(extra_body={"model": "fake/m"})
    assert list(server.client().conversations.items.list(conv.id)) == []


def test_listing_pages_with_limit_and_after(server: Woollama):
    made = [create(server, title=f"page-{i}")["id"] for i in range(5)]
    seen: list[str] = []
    after = None
    for _ in range(20):
        params = {"limit": 2, "order": "asc", **({"after": after} if after else {})}
        page = server.http().get("/v1/conversations", params=params).json()
        seen.extend(c["id"] for c in page["data"])
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert [i for i in seen if i in made] == made


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({}, 400, "`model` is required"),
        ({"model": "fake/m", "metadata": [1]}, 400, "metadata"),
        ({"model": "fake/m", "backend": "martian"}, 400, "unknown conversation backend"),
        ({"model": "nowhere/m"}, 400, "unknown provider"),
        ({"model": "woollama/ghost"}, 404, "unknown recipe"),
    ],
)
def test_bad_creates_get_clear_errors(server: Woollama, body: dict, status: int, fragment: str):
    response = server.http().post("/v1/conversations", json=body)
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


def test_unknown_conversation_is_404(server: Woollama):
    assert server.http().get("/v1/conversations/conv_nope").status_code == 404
    assert server.http().delete("/v1/conversations/conv_nope").status_code == 404


def test_without_a_store_a_stateless_model_gets_501(woollama):
    bare = woollama(inferencers='[inferencers.fake]\nbase_url = "http://127.0.0.1:9/v1"\n',
                    mcp={"mcpServers": {}})  # fmt: skip
    response = bare.http().post("/v1/conversations", json={"model": "fake/m"})
    assert response.status_code == 501
    assert "conversationStore" in response.json()["error"]["message"]


def test_conversations_survive_a_restart(woollama, tmp_path: Path, fake: FakeOpenAI):
    root = tmp_path / "durable"
    config = {
        "mcpServers": {"threads": {"command": sys.executable,
                                   "args": [str(EXAMPLES / "store_mcp.py"), str(root / "t")]}},
        "conversationStore": "threads",
    }  # fmt: skip
    inferencers = fake_inferencer(fake)
    first = woollama(root=root, mcp=config, inferencers=inferencers)
    first.http().get("/v1/tools", params={"wait": 20})
    conv = create(first, key="keep-me")
    first.stop()
    second = woollama(root=root, mcp=config, inferencers=inferencers)
    assert second.client().conversations.retrieve(conv["id"]).id == conv["id"]
    assert create(second, key="keep-me", status=200)["id"] == conv["id"]
