#!/usr/bin/env python3
"""Generate memocache's test vectors with the real Python reference.

Run from anywhere:  python3 tests/vectors/generate.py

It installs the reference (`pip install dtpyfw redis`) into a virtualenv at
target/py-reference (reused between runs), re-runs itself there, and writes:

- keys.json: cache keys from dtpyfw.redis.caching._cache_key_generator, for
  namespaces, positional and keyword arguments and skipped keywords. Each
  case carries its arguments as the JSON text Python writes for them (exact:
  ints at any size, floats in repr, keys in order), which Rust reads back
  with memocache's Python-JSON reader.
- values.json: values encoded by the reference's own _encode_result
  (zlib(json.dumps(jsonable_encoder(v)))), in hex, with the JSON text inside.

Never edit the JSON files by hand: change this script and run it again.
"""

import json
import os
import random
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(ROOT, "target", "py-reference")
VENV_PY = os.path.join(VENV, "bin", "python")


def ensure_reference():
    try:
        import dtpyfw.redis.caching  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.abspath(sys.executable) == os.path.abspath(VENV_PY):
        sys.exit("dtpyfw is not importable even inside " + VENV)
    if not os.path.exists(VENV_PY):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([VENV_PY, "-m", "pip", "install", "-q", "dtpyfw", "redis"])
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


def key_cases():
    rnd = random.Random(20261127)
    floats = [
        1e16, 1e15, 1e-05, 0.0001, 0.001, -0.0, 0.0, 5e-324, 1.7976931348623157e308,
        2.2250738585072014e-308, 0.1, 0.2 + 0.1, 1.5, -2.5, 123456789.125, 1e22, 1e100,
        9007199254740993.0, 4.35, 1 / 3, 2.0 ** 53, 999999999999999.9, 9999999999999998.0,
        1e-4, 9.999e-5, 12345678901234567890.0, float("nan"), float("inf"), float("-inf"),
        1545560996628996.25, -1545560996628996.25, 2.0 ** 52 + 0.5, 2.0 ** 51 + 0.25, 2.0 ** 51 + 0.75,
    ]
    for _ in range(120):
        floats.append(rnd.uniform(-1, 1) * 10 ** rnd.randint(-320, 300))
    for _ in range(40):
        floats.append(rnd.uniform(0, 1e6))
    ints = [0, 1, -1, 2 ** 31, 2 ** 53 + 1, 2 ** 63 - 1, -(2 ** 63), 2 ** 63, 2 ** 64 - 1,
            2 ** 64, -(2 ** 63) - 1, 2 ** 127 - 1, -(2 ** 127), 10 ** 30, -(10 ** 45)]
    strings = [
        "", "plain", "quote\" backslash\\ slash/", "\n\r\t\b\f", "\x00\x01\x1f\x7f\x80\x9f",
        "é ñ ü", "日本語", "😀 astral 𝄞", "\u2028\u2029", "\ufeff\uffff", "'single'",
        "mixed é😀\x7f\"\\",
    ]
    deep = "leaf"
    for i in range(60):
        deep = [deep] if i % 2 else {"k": deep}

    cases = []

    def add(name, namespace, args=(), kwargs=None, skip=()):
        kwargs = kwargs or {}
        from dtpyfw.redis.caching import _cache_key_generator
        key = _cache_key_generator(namespace, tuple(args), kwargs, set(skip))
        cases.append({
            "name": name,
            "namespace": namespace,
            "args": json.dumps(list(args)),
            "kwargs": json.dumps(kwargs),
            "skip": list(skip),
            "key": key,
        })

    add("no arguments", "user")
    add("empty namespace, no arguments", "")
    add("namespace ending in ':'", "ns:")
    add("namespace of colons", ":::")
    add("namespace ending in ':' with args", "ns:", [1], {"a": 1})
    add("empty namespace with args", "", [1])
    add("empty namespace with kwargs", "", [], {"a": 1})
    add("one positional int", "user", [123])
    add("keyword status", "user", [123], {"status": "active"})
    add("keyword order a,b", "ns", [], {"a": 1, "b": 2})
    add("keyword order b,a", "ns", [], {"b": 2, "a": 1})
    add("skip one of two", "ns", [], {"user_id": 789, "request_id": "abc-123"}, ["request_id"])
    add("skip all keywords", "ns", [], {"request_id": "abc", "timestamp": "t"}, ["request_id", "timestamp"])
    add("skip does not affect positional", "ns", ["request_id"], {}, ["request_id"])
    add("skip absent name", "ns", [1], {"a": 2}, ["zzz"])
    add("json types", "types", [None, True, False, 0, -7, 1.5, "s", [], {}],
        {"n": None, "t": True, "f": False, "list": [1, [2, [3]]], "dict": {"x": {"y": None}}})
    add("empty collections", "empty", [[], {}, ""], {"l": [], "d": {}})
    for i, v in enumerate(ints):
        add(f"int {i}: {v}", "ints", [v], {"v": v})
    for i, v in enumerate(floats):
        add(f"float {i}: {v!r}", "floats", [v], {"v": v})
    add("floats together", "floats", floats[:30])
    for i, v in enumerate(strings):
        add(f"string {i}: {v!r}", "strings", [v], {v if v else "empty": v})
    add("every char below 0x100", "chars", ["".join(chr(c) for c in range(256))])
    add("astral and surrogate range neighbours", "chars", ["\ud7ff\ue000\U00010000\U0010ffff"])
    add("unicode namespace", "名前:空間", [1])
    add("deep nesting", "deep", [deep], {"deep": deep})
    add("dict with non-ascii keys", "keys", [{"é": 1, "😀": 2, "\"q\"": 3}])
    add("many kwargs", "many", [], {f"k{i}": i for i in range(50)})
    add("nested mixed", "mixed", [{"users": [{"id": i, "tags": ["a", "b"], "score": i / 7}
                                              for i in range(5)]}])
    return cases


def value_cases():
    from dtpyfw.redis.caching import _encode_result
    values = {
        "dict": {"user_id": 123, "name": "John Doe", "email": "john@example.com"},
        "list of floats": [0.1, 1e16, 1e-05, -0.0, 5e-324, 1.7976931348623157e308],
        "nan and infinities": [float("nan"), float("inf"), float("-inf")],
        "unicode": {"é": "日本語 😀", "ctrl": "\x00\x7f\n"},
        "big ints": [2 ** 63, 2 ** 64, -(2 ** 63) - 1, 10 ** 30],
        "none": None,
        "true": True,
        "empty string": "",
        "empty list": [],
        "empty dict": {},
        "nested": {"a": [1, {"b": [2, {"c": [3, None]}]}], "z": False},
        "tuple becomes list": (1, "two", 3.0),
        "key order": {"z": 1, "a": 2, "m": 3},
        "large": {"rows": [{"id": i, "name": f"row {i}", "score": i * 1.25} for i in range(2000)]},
    }
    cases = []
    for name, value in values.items():
        stored = _encode_result(value)
        cases.append({
            "name": name,
            "stored_hex": stored.hex(),
            "json": zlib.decompress(stored).decode("utf-8"),
        })
    return cases


def main():
    ensure_reference()
    from importlib.metadata import version
    meta = {"generator": "tests/vectors/generate.py", "dtpyfw": version("dtpyfw"),
            "python": sys.version.split()[0]}
    with open(os.path.join(HERE, "keys.json"), "w") as f:
        json.dump({"meta": meta, "cases": key_cases()}, f, indent=1)
        f.write("\n")
    with open(os.path.join(HERE, "values.json"), "w") as f:
        json.dump({"meta": meta, "cases": value_cases()}, f, indent=1)
        f.write("\n")
    print("wrote keys.json and values.json with dtpyfw", meta["dtpyfw"])


if __name__ == "__main__":
    main()
