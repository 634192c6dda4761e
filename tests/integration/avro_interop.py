#!/usr/bin/env python3
"""Herald's Avro serde against fastavro, in both directions.

Driven by test_avro_interop.sh; talks to Herald through tests/tools/hd_avro.c.

1. Canonical forms and fingerprints: for every schemas/*.avsc and every schema
   in tests/data/avro/canonical/, Herald's Parsing Canonical Form and
   CRC-64-AVRO equal fastavro's.
2. Herald writes: the sample records (tests/data/avro/samples.jsonl) plus
   random records generated from each schema with a fixed seed go through
   `hd_avro encode` (the JSON path) and, for the core records, `hd_avro encode
   --typed` (the records.h codecs on avro-c). Each record must carry the single-
   object header with fastavro's fingerprint, decode with fastavro to the
   original value, and be byte-identical to fastavro's own encoding.
3. fastavro writes: the same values, single-object encoded by fastavro, are
   decoded by `hd_avro decode` to the same values and schema names, and
   `hd_avro retype` (typed decode + encode) gives back the same bytes.

Exits non-zero with a description of the first mismatches.
"""
import argparse
import glob
import io
import json
import math
import os
import random
import subprocess
import sys

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

CORE = {"NotificationRequest", "StatusEvent", "DeadLetter", "Dispatch", "InboxItem", "UserAction"}
RANDOM_PER_SCHEMA = 60
SEED = 20261123

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def run(tool, args, stdin_text):
    p = subprocess.run([tool] + args, input=stdin_text.encode("utf-8"), capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("hd_avro %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                            p.stderr.decode(errors="replace")))
    # Not splitlines(): decoded bytes may hold U+0085 or U+2028, which it splits on.
    out = p.stdout.decode("utf-8").split("\n")
    return out[:-1] if out and out[-1] == "" else out


def fp_le_bytes(schema_json):
    """The 8 fingerprint bytes of the single-object header, as fastavro computes them."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema_json), "CRC-64-AVRO"))


def without_logical_types(s):
    """The same schema with logicalType dropped, so that fastavro reads and writes
    timestamp-millis as the plain longs Herald exchanges (binary is unchanged)."""
    if isinstance(s, dict):
        return {k: without_logical_types(v) for k, v in s.items() if k != "logicalType"}
    if isinstance(s, list):
        return [without_logical_types(x) for x in s]
    return s


# ---- values: Python (fastavro) form <-> plain JSON (Herald) form ----

def to_plain_json(v):
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, dict):
        return {k: to_plain_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_plain_json(x) for x in v]
    return v


def from_plain_json(schema, v, named):
    """Plain JSON -> the Python value fastavro writes (bytes from latin-1 strings,
    defaults filled in for missing fields)."""
    if isinstance(schema, str):
        if schema in named:
            return from_plain_json(named[schema], v, named)
        if schema == "bytes":
            return v.encode("latin-1")
        return v
    if isinstance(schema, list):
        if v is None:
            return None
        branch = [b for b in schema if b != "null"][0]
        return from_plain_json(branch, v, named)
    t = schema["type"]
    if t == "record":
        named[schema["name"]] = schema
        out = {}
        for f in schema["fields"]:
            fv = v[f["name"]] if f["name"] in v else f["default"]
            out[f["name"]] = from_plain_json(f["type"], fv, named)
        return out
    if t == "enum":
        named[schema["name"]] = schema
        return v
    if t == "array":
        return [from_plain_json(schema["items"], x, named) for x in v]
    if t == "map":
        return {k: from_plain_json(schema["values"], x, named) for k, x in v.items()}
    return from_plain_json(t, v, named)


def same(a, b):
    """Equality that tells -0.0 from 0.0 and accepts NaN == NaN."""
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) == type(b) and a == b


# ---- random values from a (parsed, logical-type-free) schema ----

def rand_string(rng):
    pools = ["abcxyz", "ÀéîõüÿĀ", "日本語テキスト", "🎉🚀👍", "\"\\/\b\f\n\r\t", "\u007f\u0080\u07ff\u0800\uffff"]
    n = rng.choice([0, 1, 2, 5, 12, 40])
    return "".join(rng.choice(rng.choice(pools)) for _ in range(n))


def rand_value(schema, rng, named, depth=0):
    if isinstance(schema, str):
        if schema in named:
            return rand_value(named[schema], rng, named, depth)
        return rand_primitive(schema, rng)
    if isinstance(schema, list):
        if "null" in schema and rng.random() < 0.4:
            return None
        return rand_value(rng.choice([b for b in schema if b != "null"]), rng, named, depth)
    t = schema["type"]
    if t == "record":
        named[schema["name"]] = schema
        return {f["name"]: rand_value(f["type"], rng, named, depth + 1) for f in schema["fields"]}
    if t == "enum":
        named[schema["name"]] = schema
        return rng.choice(schema["symbols"])
    if t == "array":
        return [rand_value(schema["items"], rng, named, depth + 1) for _ in range(rng.choice([0, 1, 3, 7]))]
    if t == "map":
        return {rand_string(rng) + str(i): rand_value(schema["values"], rng, named, depth + 1)
                for i in range(rng.choice([0, 1, 4]))}
    return rand_primitive(t, rng)


def rand_primitive(t, rng):
    if t == "string":
        return rand_string(rng)
    if t == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 16, 64])))
    if t == "int":
        return rng.choice([0, 1, -1, 63, -64, 64, 2**31 - 1, -2**31, rng.randrange(-2**31, 2**31)])
    if t == "long":
        return rng.choice([0, -1, 2**63 - 1, -2**63, 2**53 + 1, rng.randrange(-2**63, 2**63)])
    if t == "double":
        return rng.choice([0.0, -0.0, 1.5, -2.25, 1e-310, 1.7976931348623157e308, 0.1,
                           rng.uniform(-1e12, 1e12), float(rng.randrange(-2**53, 2**53))])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "null":
        return None
    raise ValueError("no generator for " + t)


# ---- the checks ----

def check_canonical(tool, src):
    lines = run(tool, ["schemas"], "")
    herald = {json.loads(l)["file"]: json.loads(l) for l in lines}
    files = sorted(glob.glob(os.path.join(src, "schemas", "*.avsc")))
    if sorted(herald) != sorted(os.path.basename(f) for f in files):
        fail("embedded schemas %s differ from schemas/*.avsc" % sorted(herald))
    extra = sorted(glob.glob(os.path.join(src, "tests", "data", "avro", "canonical", "*.avsc")))
    extra_out = {json.loads(l)["file"]: json.loads(l) for l in run(tool, ["canonical"] + extra, "")}
    checked = 0
    for path in files + extra:
        with open(path, encoding="utf-8") as fh:
            schema = json.load(fh)
        got = herald.get(os.path.basename(path)) if path in files else extra_out.get(path)
        want_canon = to_parsing_canonical_form(schema)
        want_fp = "%016x" % int.from_bytes(fp_le_bytes(schema), "little")
        if not got or got.get("canonical") != want_canon:
            fail("%s: canonical form\n  herald:   %s\n  fastavro: %s" % (path, got and got.get("canonical"), want_canon))
        elif got.get("fingerprint") != want_fp:
            fail("%s: fingerprint herald %s, fastavro %s" % (path, got.get("fingerprint"), want_fp))
        if path in files and got and got.get("name") != schema["name"]:
            fail("%s: serde knows the fingerprint as %r" % (path, got.get("name")))
        checked += 1
    print("canonical forms and fingerprints: %d schemas agree with fastavro" % checked)


def load_schemas(src):
    out = {}
    for path in sorted(glob.glob(os.path.join(src, "schemas", "*.avsc"))):
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        out[raw["name"]] = {
            "raw": raw,
            "plain": without_logical_types(raw),
            "parsed": fastavro.parse_schema(without_logical_types(raw)),
            "header": b"\xc3\x01" + fp_le_bytes(raw),
        }
    return out


def build_cases(src, schemas):
    """(schema name, plain JSON value, Python value) for samples and random records."""
    cases = {name: [] for name in schemas}
    with open(os.path.join(src, "tests", "data", "avro", "samples.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            o = json.loads(line)
            s = schemas[o["schema"]]
            cases[o["schema"]].append((o["value"], from_plain_json(s["plain"], o["value"], {})))
    rng = random.Random(SEED)
    for name, s in schemas.items():
        for _ in range(RANDOM_PER_SCHEMA):
            v = rand_value(s["plain"], rng, {})
            cases[name].append((to_plain_json(v), v))
    return cases


def fastavro_body(s, value):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, s["parsed"], value)
    return buf.getvalue()


def check_herald_writes(tool, schemas, cases):
    n = 0
    for name, s in schemas.items():
        lines = [json.dumps(plain, ensure_ascii=(i % 2 == 0)) for i, (plain, _) in enumerate(cases[name])]
        modes = [("json", ["encode", name])]
        if name in CORE:
            modes.append(("typed", ["encode", "--typed", name]))
        for mode, args in modes:
            out = run(tool, args, "\n".join(lines) + "\n")
            if len(out) != len(lines):
                fail("%s/%s: %d records in, %d out" % (name, mode, len(lines), len(out)))
                continue
            for (plain, value), hexline in zip(cases[name], out):
                data = bytes.fromhex(hexline)
                if data[:10] != s["header"]:
                    fail("%s/%s: header %s, fastavro expects %s" % (name, mode, data[:10].hex(), s["header"].hex()))
                    continue
                got = fastavro.schemaless_reader(io.BytesIO(data[10:]), s["parsed"], None)
                if not same(got, value):
                    fail("%s/%s: fastavro read %r, expected %r" % (name, mode, got, value))
                if data[10:] != fastavro_body(s, value):
                    fail("%s/%s: bytes differ from fastavro's for %r" % (name, mode, value))
                n += 1
    print("herald -> fastavro: %d records decoded by fastavro, byte-identical" % n)


def check_fastavro_writes(tool, schemas, cases):
    n = 0
    for name, s in schemas.items():
        frames = [s["header"] + fastavro_body(s, value) for _, value in cases[name]]
        hexin = "".join(f.hex() + "\n" for f in frames)
        out = run(tool, ["decode"], hexin)
        if len(out) != len(frames):
            fail("%s: %d records in, %d decoded" % (name, len(frames), len(out)))
            continue
        for (plain, value), line in zip(cases[name], out):
            o = json.loads(line)
            if o["schema"] != name:
                fail("%s: herald says schema %s" % (name, o["schema"]))
            want = to_plain_json(value)
            if not same(o["value"], want):
                fail("%s: herald decoded %r, expected %r" % (name, o["value"], want))
            n += 1
        if name in CORE:
            back = run(tool, ["retype"], hexin)
            for frame, hexline in zip(frames, back):
                if bytes.fromhex(hexline) != frame:
                    fail("%s: typed decode+encode changed %s into %s" % (name, frame.hex(), hexline))
            n += len(back)
    print("fastavro -> herald: %d records decoded (JSON and typed codecs)" % n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="path to the hd_avro executable")
    ap.add_argument("--source", required=True, help="Herald source directory")
    args = ap.parse_args()
    print("fastavro", fastavro.__version__)
    check_canonical(args.tool, args.source)
    schemas = load_schemas(args.source)
    cases = build_cases(args.source, schemas)
    check_herald_writes(args.tool, schemas, cases)
    check_fastavro_writes(args.tool, schemas, cases)
    if failures:
        print("%d interop failures" % len(failures), file=sys.stderr)
        return 1
    print("avro interop: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
