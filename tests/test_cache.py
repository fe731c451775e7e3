"""The completion cache survives a kill mid-write: torn lines are skipped with a warning, then dropped."""
import json
import logging

from mm.cache import CompletionCache
from mm.llm import Completion


def test_cache_skips_a_torn_last_line_and_appends_after_it(tmp_path):
    cache = CompletionCache(tmp_path / "c.jsonl")
    cache.put(Completion(key="a", text="one"))
    with (tmp_path / "c.jsonl").open("a") as handle:
        handle.write('{"key": "b", "te')  # killed mid-write
    reopened = CompletionCache(tmp_path / "c.jsonl")
    assert reopened.bad_lines == [2] and "a" in reopened and "b" not in reopened
    reopened.put(Completion(key="b", text="two"))
    again = CompletionCache(tmp_path / "c.jsonl")
    assert again.get("b").text == "two" and len(again) == 2


def torn_in_a_character(tmp_path):
    """A cache whose line 2 was cut inside the two bytes of 'é' (then a resumed run appended line 3)."""
    path = tmp_path / "c.jsonl"
    lines = [json.dumps({"key": k, "text": f"café {k}"}, ensure_ascii=False).encode() for k in "abc"]
    path.write_bytes(lines[0] + b"\n" + lines[1][: lines[1].index("é".encode()) + 1] + b"\n" + lines[2] + b"\n")
    return path


def test_a_line_torn_inside_a_multibyte_character_is_skipped_naming_file_and_line(tmp_path, caplog):
    path = torn_in_a_character(tmp_path)
    with caplog.at_level(logging.WARNING, logger="mm.cache"):
        cache = CompletionCache(path)
    assert cache.bad_lines == [2] and sorted(cache.records) == ["a", "c"] and cache.get("c").text == "café c"
    assert f"{path}:2:" in caplog.text


def test_the_next_write_drops_the_torn_line_so_it_is_reported_once(tmp_path, caplog):
    path = torn_in_a_character(tmp_path)
    kept = path.read_bytes().splitlines(keepends=True)[::2]
    CompletionCache(path).put(Completion(key="d", text="four"))
    assert path.read_bytes().splitlines(keepends=True)[:2] == kept  # good lines kept byte for byte
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mm.cache"):
        again = CompletionCache(path)
    assert again.bad_lines == [] and sorted(again.records) == ["a", "c", "d"] and caplog.records == []
    assert not path.with_suffix(".jsonl.partial").exists()
