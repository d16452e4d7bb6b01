"""`model_names`: `server.tool` → names OpenAI and Anthropic accept, as a stable table."""

from __future__ import annotations

import random
import re

from hypothesis import given
from hypothesis import strategies as st

from woollama.tools.names import model_names

MODEL_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PLAIN = re.compile(r"[A-Za-z0-9-]+")  # parts that need no rewriting at all


def assert_table(qualified: list[str] | set[str], mapping: dict[str, str]) -> None:
    """Every qualified name is mapped, to a model-safe name no other one shares."""
    assert set(mapping) == set(qualified)
    for name in mapping.values():
        assert MODEL_SAFE.fullmatch(name), name
    assert len(set(mapping.values())) == len(mapping), mapping


def test_plain_names_read_as_server_double_underscore_tool():
    mapping = model_names(["hello.hello", "hello.count_to", "textops.uppercase"])
    assert mapping == {
        "hello.hello": "hello__hello",
        "hello.count_to": "hello__count_to",
        "textops.uppercase": "textops__uppercase",
    }


def test_hyphens_and_underscores_are_kept_as_they_are():
    assert model_names(["every-thing.get-sum"]) == {"every-thing.get-sum": "every-thing__get-sum"}
    assert model_names(["my_server.get_sum"]) == {"my_server.get_sum": "my_server__get_sum"}


def test_names_differing_only_in_hyphen_or_underscore_both_stay_readable():
    mapping = model_names(["a.b-c", "a.b_c"])
    assert mapping == {"a.b-c": "a__b-c", "a.b_c": "a__b_c"}


def test_characters_models_reject_become_underscores():
    mapping = model_names(["fs.read.file", "café.größe", "srv.say hi!"])
    assert_table(["fs.read.file", "café.größe", "srv.say hi!"], mapping)
    assert mapping["fs.read.file"] == "fs__read_file"
    assert mapping["café.größe"] == "caf___gr__e"
    assert mapping["srv.say hi!"] == "srv__say_hi_"


def test_names_that_rewrite_to_the_same_text_each_get_a_distinct_hashed_name():
    for group in (
        ["a_.b", "a._b"],  # both a___b
        ["a.b c", "a.b_c", "a.b/c", "a.b.c"],  # all a__b_c
        ["x.tool", "x.tool ", "x.tool!"],  # x__tool and x__tool_ twice
    ):
        mapping = model_names(group)
        assert_table(group, mapping)


def test_every_member_of_a_colliding_group_is_hashed_not_just_the_later_ones():
    # Otherwise which tool keeps the readable name would depend on discovery order.
    mapping = model_names(["a_.b", "a._b"])
    assert "a___b" not in mapping.values()
    assert all(name.startswith("a___b_") for name in mapping.values())


def test_a_collision_elsewhere_does_not_rename_unrelated_tools():
    mapping = model_names(["a_.b", "a._b", "hello.hello"])
    assert mapping["hello.hello"] == "hello__hello"


def test_a_readable_name_equal_to_another_tools_hashed_name_is_still_unique():
    # Build the adversarial case from the mapping itself: a tool whose readable form
    # is exactly the hashed name another colliding tool received.
    hashed = model_names(["a.b c", "a.b_c"])["a.b c"]
    assert hashed.startswith("a__")
    impostor = "a." + hashed.removeprefix("a__")
    names = ["a.b c", "a.b_c", impostor]
    assert_table(names, model_names(names))


def test_a_name_of_exactly_64_characters_stays_readable():
    qualified = "s" * 30 + "." + "t" * 32  # 30 + 2 + 32 = 64
    assert model_names([qualified]) == {qualified: "s" * 30 + "__" + "t" * 32}


def test_a_longer_name_is_shortened_to_64_with_its_readable_prefix_kept():
    qualified = "s" * 30 + "." + "t" * 33
    [name] = model_names([qualified]).values()
    assert MODEL_SAFE.fullmatch(name) and len(name) <= 64
    assert name.startswith("s" * 30 + "__" + "t" * 10)


def test_hundred_character_names_sharing_a_long_prefix_stay_distinct():
    prefix = "server.get_" + "x" * 80
    names = [f"{prefix}{suffix}" for suffix in ("a", "b", "c", "_", "-", ".")]
    assert all(len(n) >= 92 for n in names)
    assert_table(names, model_names(names))


def test_a_hundred_character_server_name_still_fits():
    names = ["s" * 100 + ".tool", "s" * 100 + ".other"]
    assert_table(names, model_names(names))


def test_the_mapping_depends_only_on_the_set_of_names_not_on_their_order():
    names = ["a_.b", "a._b", "a.b c", "a.b_c", "hello.hello", "z" * 70 + ".t", "z" * 70 + ".u"]
    expected = model_names(names)
    rng = random.Random(1234)
    for _ in range(20):
        shuffled = names[:]
        rng.shuffle(shuffled)
        assert model_names(shuffled) == expected
    assert model_names(iter(reversed(names))) == expected
    assert model_names(names + names) == expected


def test_no_names_give_an_empty_table():
    assert model_names([]) == {}


# -- properties over arbitrary names ---------------------------------------------------

part = st.one_of(
    st.text(min_size=1, max_size=80),
    st.text(alphabet="ab_-.", min_size=1, max_size=6),  # dense in near-collisions
    st.from_regex(PLAIN, fullmatch=True).filter(lambda s: len(s) <= 40),
)
qualified_name = st.builds(lambda server, tool: f"{server}.{tool}", part, part)


@given(st.lists(qualified_name, max_size=40), st.randoms(use_true_random=False))
def test_any_set_of_names_maps_to_unique_model_safe_names_in_any_order(names, rng):
    mapping = model_names(names)
    assert_table(names, mapping)
    shuffled = names[:]
    rng.shuffle(shuffled)
    assert model_names(shuffled) == mapping


@given(st.lists(qualified_name, max_size=40))
def test_plain_names_that_fit_are_always_readable(names):
    mapping = model_names(names)
    for qualified, name in mapping.items():
        server, _, tool = qualified.partition(".")
        readable = f"{server}__{tool}"
        # Without underscores the `__` separator is unambiguous, so no other name can
        # rewrite to the same text.
        if PLAIN.fullmatch(server) and PLAIN.fullmatch(tool) and len(readable) <= 64:
            assert name == readable, (qualified, mapping)
