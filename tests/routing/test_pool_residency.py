"""Residency, capabilities, virtual names and /v1/models of pooled inferencers."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.device import FakeOllamaDevice, FakeRestDevice, Model
from tests.harness import Woollama
from tests.routing.pooling import ask, models, pooled

CATALOG = {"chatty": Model(), "nomic-embed": Model(capabilities=("embedding",)), "other": Model()}


def _reads(device) -> int:
    return sum(1 for r in device.requests if r.path in ("/api/ps", "/api/v1/models/running"))


def test_a_5xx_makes_woollama_reread_residency_and_forget_a_model_that_is_gone(woollama):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        server: Woollama = woollama(inferencers=pooled(device, pool_max=2))
        client = server.client()
        assert ask(client, "box/m1") == "m1"
        assert device.state.loads == []  # it was resident: no load was asked for
        reads = _reads(device)
        device.forget("m1")
        device.fail_next("500")
        with pytest.raises(openai.InternalServerError):
            ask(client, "box/m1")
        assert device.wait_for(lambda: _reads(device) > reads)
        # Gone from woollama's view too: the next request loads it again.
        assert device.wait_for(lambda: "m1" not in device.state.loaded)
        assert ask(client, "box/m1") == "m1"
        assert device.state.loads == ["m1"]


def test_a_dropped_connection_also_rereads_residency(woollama):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        server: Woollama = woollama(inferencers=pooled(device, pool_max=2))
        client = server.client()
        assert ask(client, "box/m1") == "m1"
        reads = _reads(device)
        device.fail_next("drop")
        with pytest.raises(openai.APIStatusError) as caught:
            ask(client, "box/m1")
        assert caught.value.status_code == 502
        assert device.wait_for(lambda: _reads(device) > reads)


def test_residency_reads_are_coalesced_to_one_a_second(woollama):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        server: Woollama = woollama(inferencers=pooled(device, pool_max=2))
        http = server.http()
        before = _reads(device)
        for _ in range(5):
            assert http.get("/v1/models").status_code == 200
        assert _reads(device) - before <= 2  # five listings within a second or two


def test_an_embedding_model_on_chat_is_refused_before_dispatch(woollama):
    with FakeOllamaDevice(CATALOG) as device:
        config = pooled(device, models=tuple(CATALOG), capabilities={"embedding": ["*embed*"]})
        server: Woollama = woollama(inferencers=config)
        client = server.client()
        with pytest.raises(openai.BadRequestError) as caught:
            ask(client, "box/nomic-embed")
        assert "embedding" in caught.value.body["message"]
        assert not [r for r in device.requests if r.path.startswith("/v1/")]
        vector = client.embeddings.create(model="box/nomic-embed", input="x")
        assert vector.data[0].embedding == [1.0, 0.0]
        # Undeclared means eligible for anything.
        assert ask(client, "box/other") == "other"


def test_capabilities_the_device_reports_refuse_too_and_default_skips_them(woollama):
    with FakeRestDevice(CATALOG, memory=3) as device:
        device.preload("nomic-embed", "chatty")
        config = pooled(device, protocol="device", models=tuple(CATALOG), pool_max=3)
        server: Woollama = woollama(inferencers=config)
        client = server.client()
        with pytest.raises(openai.BadRequestError) as caught:
            ask(client, "box/nomic-embed")
        assert "embedding" in caught.value.body["message"]
        for _ in range(3):
            assert ask(client, "box/default") == "chatty"


def test_v1_models_says_what_is_loaded_what_is_undeclared_and_capabilities(woollama):
    with FakeOllamaDevice(CATALOG, memory=3) as device:
        device.preload("chatty", "other")
        config = pooled(device, models=("chatty", "nomic-embed"),
                        capabilities={"embedding": ["*embed*"]})  # fmt: skip
        server: Woollama = woollama(inferencers=config)
        listed = models(server)
        assert listed["box/chatty"]["loaded"] is True
        assert listed["box/nomic-embed"]["loaded"] is False
        assert listed["box/nomic-embed"]["capabilities"] == ["embedding"]
        assert "undeclared" not in listed["box/chatty"]
        assert listed["box/other"]["undeclared"] is True
        assert listed["box/other"]["loaded"] is True


def test_loaded_is_omitted_when_residency_is_unknown(woollama, fake_openai):
    inferencers = (
        f'[inferencers.box]\nbase_url = "{fake_openai.base_url}"\n'
        'management_url = "http://127.0.0.1:9"\nmanagement_protocol = "ollama"\n'
        'models = ["m1"]\n'
    )
    server: Woollama = woollama(inferencers=inferencers)
    entry = models(server)["box/m1"]
    assert "loaded" not in entry


def test_the_originals_pooling_example_loads_and_behaves(woollama):
    with FakeRestDevice(memory=2) as device:
        inferencers = f"""
[inferencers.device]
base_url = "{device.base_url}"
management_url = "{device.origin}"
models = ["m1", "m2", "m3"]
parallel = 1
pool_max = 2
queue_max = 8
queue_timeout = 30

[inferencers.device.virtual]
default = "m1"
fast = "m2"
"""
        server: Woollama = woollama(inferencers=inferencers)
        client = server.client()
        assert ask(client, "device/default") == "m1"  # nothing loaded: the table's entry
        assert ask(client, "device/fast") == "m2"
        assert ask(client, "device/m3") == "m3"
        assert device.state.unloads == ["m1"]  # pool_max = 2, m1 least recently used
        assert ask(client, "device/default") in ("m2", "m3")  # what the device holds now
        assert device.management_calls()[0] == ("GET", "/api/v1/models/running")


def test_a_named_rest_protocol_drives_a_device_it_describes(woollama):
    with FakeRestDevice(memory=5) as device:
        inferencers = (
            pooled(device, protocol="mine", pool_max=1)
            + '[management_protocols.mine]\nkind = "rest"\n'
            + "[management_protocols.mine.endpoints.running]\n"
            + 'url = "{base}/api/v1/models/running"\nmethod = "GET"\n'
            + 'path = "instances.running"\nid_field = "model"\n'
            + "[management_protocols.mine.endpoints.start]\n"
            + 'url = "{base}/api/v1/models/start"\nbody = {model = "{id}"}\n'
            + "[management_protocols.mine.endpoints.stop]\n"
            + 'url = "{base}/api/v1/models/stop"\nbody = {model = "{id}"}\n'
            + 'headers = {"x-why" = "evict {id}"}\n'
        )
        server: Woollama = woollama(inferencers=inferencers)
        client = server.client()
        assert ask(client, "box/m1") == "m1"
        assert ask(client, "box/m2") == "m2"
        stop = next(r for r in device.requests if r.path == "/api/v1/models/stop")
        assert stop.body == {"model": "m1"}
        assert stop.headers["x-why"] == "evict m1"
