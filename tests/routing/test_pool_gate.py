"""The gate of a pooled inferencer, driven by concurrent openai SDK clients against a
real woollama in front of a fake device."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.device import FakeOllamaDevice, FakeRestDevice
from tests.harness import Woollama
from tests.routing.pooling import ask, concurrently, pooled


def test_a_pooled_model_is_loaded_through_the_management_api_then_answers(woollama):
    with FakeOllamaDevice() as device:
        server: Woollama = woollama(inferencers=pooled(device, pool_max=2))
        assert ask(server.client(), "box/m1") == "m1"
        assert device.state.loads == ["m1"]
        assert ("GET", "/api/ps") in device.management_calls()
        load = next(r for r in device.requests if r.path == "/api/generate")
        assert load.body["model"] == "m1" and load.body["keep_alive"] != 0


def test_requests_beyond_parallel_wait_their_turn(woollama):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        server: Woollama = woollama(inferencers=pooled(device, parallel=2))
        device.hold("m1")
        client = server.client()
        calls = [lambda: ask(client, "box/m1")] * 5
        with_results = _run_then_let_go(
            device, calls, lambda: device.state.in_flight.get("m1") == 2
        )
        assert with_results == ["m1"] * 5
        assert device.state.most_in_flight["m1"] == 2


def test_past_queue_max_the_answer_is_a_503_with_retry_after(woollama):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        server: Woollama = woollama(inferencers=pooled(device, queue_max=0, queue_timeout=7))
        device.hold("m1")
        client = server.client()

        def refused() -> object:
            assert device.wait_for(lambda: device.state.in_flight.get("m1") == 1)
            with pytest.raises(openai.APIStatusError) as caught:
                ask(client, "box/m1")
            device.let_go()
            return caught.value

        first, error = concurrently([lambda: ask(client, "box/m1"), refused])
        assert first == "m1"
        assert error.status_code == 503
        assert error.response.headers["retry-after"] == "7"
        assert error.body["type"] == "backend_busy"
        assert "busy" in error.body["message"]


def test_a_request_that_waits_past_queue_timeout_is_a_503_not_a_hang(woollama):
    with FakeOllamaDevice() as device:
        device.preload("m1")
        server: Woollama = woollama(inferencers=pooled(device, queue_timeout=0.5))
        device.hold("m1")
        client = server.client()

        def late() -> object:
            assert device.wait_for(lambda: device.state.in_flight.get("m1") == 1)
            with pytest.raises(openai.APIStatusError) as caught:
                ask(client, "box/m1")
            device.let_go()
            return caught.value

        first, error = concurrently([lambda: ask(client, "box/m1"), late])
        assert first == "m1"
        assert error.status_code == 503
        assert error.response.headers["retry-after"] == "1"


def test_the_least_recently_used_idle_model_is_evicted_before_a_load(woollama):
    with FakeRestDevice(memory=5) as device:  # the device itself would hold all three
        server: Woollama = woollama(inferencers=pooled(device, protocol="device", pool_max=2))
        client = server.client()
        for model in ("m1", "m2", "m1", "m3"):
            assert ask(client, f"box/{model}") == model
        assert device.state.unloads == ["m2"]  # m1 was used more recently
        assert set(device.state.loaded) == {"m1", "m3"}
        stops = [r.body["model"] for r in device.requests if r.path == "/api/v1/models/stop"]
        assert stops == ["m2"]


def test_a_model_with_work_in_flight_is_never_the_one_evicted(woollama):
    with FakeOllamaDevice(memory=5) as device:
        device.preload("m1", "m2")
        server: Woollama = woollama(inferencers=pooled(device, pool_max=2))
        client = server.client()
        ask(client, "box/m2")  # m1 is now the least recently used...
        device.hold("m1")  # ...but it is busy

        def other() -> str:
            assert device.wait_for(lambda: device.state.in_flight.get("m1") == 1)
            answer = ask(client, "box/m3")
            device.let_go()
            return answer

        assert concurrently([lambda: ask(client, "box/m1"), other]) == ["m1", "m3"]
        assert device.state.unloads == ["m2"]
        assert device.state.aborted == 0


def test_a_swap_waits_for_the_work_in_flight_on_the_model_it_evicts(woollama):
    with FakeOllamaDevice(memory=2) as device:
        device.preload("m1", "m2")
        server: Woollama = woollama(inferencers=pooled(device, pool_max=2))
        client = server.client()
        device.hold("m1")
        device.hold("m2")

        def busy() -> bool:
            return device.state.in_flight.get("m1") == 1 and device.state.in_flight.get("m2") == 1

        def third() -> str:
            assert device.wait_for(busy)
            # The swap for m3 is pending: a drain, not an abort.
            assert device.wait_for(
                lambda: len([r for r in device.requests if r.path == "/v1/chat/completions"]) == 2
            )
            device.let_go()
            return ask(client, "box/m3")

        results = concurrently(
            [lambda: ask(client, "box/m1"), lambda: ask(client, "box/m2"), third]
        )
        assert results == ["m1", "m2", "m3"]
        assert device.state.aborted == 0
        assert len(device.state.unloads) == 1


def test_two_busy_models_on_a_one_model_device_alternate_in_batches(woollama):
    with FakeOllamaDevice(memory=1, load_delay=0.2) as device:
        server: Woollama = woollama(inferencers=pooled(device, pool_max=1, parallel=2))
        client = server.client()
        calls = [lambda m=m: ask(client, f"box/{m}") for _ in range(6) for m in ("m1", "m2")]
        results = concurrently(calls)
        assert sorted(results) == ["m1"] * 6 + ["m2"] * 6
        assert device.state.aborted == 0
        # One load per batch, not one per request: 12 requests, a handful of swaps.
        assert len(device.state.loads) <= 4, device.state.loads
        for load in device.state.loads:
            assert device.state.served[load] >= 1


def test_inferencers_on_one_device_share_its_gate_with_the_strictest_limits(woollama):
    with FakeOllamaDevice(memory=5) as device:
        config = pooled(device, name="a", pool_max=1) + pooled(device, name="b", pool_max=3)
        server: Woollama = woollama(inferencers=config)
        client = server.client()
        assert ask(client, "a/m1") == "m1"
        assert ask(client, "b/m2") == "m2"
        assert device.state.unloads == ["m1"]


def _run_then_let_go(device, calls, ready) -> list:
    """Run `calls` concurrently; once `ready()` holds on the device, let held answers go."""

    def release() -> None:
        assert device.wait_for(ready)
        # Every other call has been sent by now or is queued at the gate.
        assert device.wait_for(lambda: sum(device.state.in_flight.values()) >= 1)
        device.let_go()

    results = concurrently([*calls, release])
    return results[:-1]
