"""Shards served on a local Ray Serve answer over HTTP as ``hypencoder serve``
answers for one index holding every document: the same hits, the same
errors, writes routed to one shard and read back."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import hypencoder
from conftest import _binary

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
from hypencoder.ray.serve import Limits, app, shard_of  # noqa: E402

TIMEOUT = 60  # seconds per HTTP call: every call is bounded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body=None):
    """(status, JSON or text) of one request."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, tiny_model, corpus):
    """One index of the corpus, and the same documents in two shards."""
    tmp = tmp_path_factory.mktemp("served")
    lines = corpus.read_text().splitlines()
    model = hypencoder.Model(tiny_model)
    shards = []
    for n, part in enumerate([lines[:130], lines[130:]]):
        path = tmp / f"part{n}.jsonl"
        path.write_text("\n".join(part) + "\n")
        hypencoder.build_index(path, tmp / f"shard{n}", model)
        shards.append((f"s{n}", str(tmp / f"shard{n}")))
    hypencoder.build_index(corpus, tmp / "whole", model)
    return str(tmp / "whole"), shards, [json.loads(l)["text"][:60] for l in lines[:8]]


LIMITS = dict(max_k=50, max_query_chars=100, max_queries=1024, max_body_bytes=2000)


@pytest.fixture(scope="module")
def single(indexes):
    """`hypencoder serve` on the whole index, named idx."""
    port = _free_port()
    proc = subprocess.Popen(
        [_binary(), "serve", "--index", f"idx={indexes[0]}", "--addr", f"127.0.0.1:{port}",
         "--max-k", "50", "--max-query-chars", "100", "--max-body-bytes", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    _wait(base)
    yield base
    proc.terminate()
    proc.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def sharded(indexes):
    """The shards on a local Ray Serve, named idx."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(app(indexes[1], name="idx", cpus_per_replica=0.5, limits=Limits(**LIMITS)), route_prefix="/")
    base = f"http://127.0.0.1:{port}"
    _wait(base)
    yield base
    serve.shutdown()
    ray.shutdown()


def _wait(base: str) -> None:
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            if call(base, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} did not answer /healthz within {TIMEOUT} s")


def test_served_shards_answer_searches_as_one_served_index(indexes, single, sharded):
    queries = indexes[2]
    for settings in [{}, {"mode": "bm25"}, {"mode": "exhaustive", "k": 5}, {"mode": "rerank"},
                     {"mode": "hybrid", "fusion": "rrf", "include_text": True}]:
        for q in queries:
            body = {"query": q, **settings}
            (s1, want), (s2, got) = call(single, "POST", "/v1/indexes/idx/search", body), \
                call(sharded, "POST", "/v1/indexes/idx/search", body)
            assert s1 == s2 == 200, (want, got)
            assert [h["id"] for h in got["hits"]] == [h["id"] for h in want["hits"]], settings
            np.testing.assert_allclose([h["score"] for h in got["hits"]], [h["score"] for h in want["hits"]],
                                       atol=1e-6, rtol=0)
            assert got["mode"] == want["mode"]
            assert [h.get("text") for h in got["hits"]] == [h.get("text") for h in want["hits"]]
    # A batch, and GET with a query string.
    body = {"queries": queries[:3] + [{"query": queries[3], "filter": {"nope": "x"}}], "k": 3}
    (s1, want), (s2, got) = call(single, "POST", "/v1/indexes/idx/search", body), \
        call(sharded, "POST", "/v1/indexes/idx/search", body)
    assert s1 == s2 == 200
    assert [[h["id"] for h in r["hits"]] for r in got["results"]] == \
        [[h["id"] for h in r["hits"]] for r in want["results"]]
    assert got["results"][3]["warnings"] == want["results"][3]["warnings"]
    path = "/v1/indexes/idx/search?q=audio+converter&k=4&mode=bm25"
    assert [h["id"] for h in call(sharded, "GET", path)[1]["hits"]] == \
        [h["id"] for h in call(single, "GET", path)[1]["hits"]]


# The bad requests of `hypencoder serve`'s own test (crates/cli/tests/it/serve.rs),
# sent to both: the same status, error code and field.
BAD = [
    ("POST", "/v1/indexes/idx/search", b'{"query": "a",'),
    ("POST", "/v1/indexes/idx/search", {"query": "a", "colour": 1}),
    ("POST", "/v1/indexes/idx/search", {"k": 3}),
    ("POST", "/v1/indexes/idx/search", {"query": "  "}),
    ("POST", "/v1/indexes/idx/search", {"query": "a", "queries": ["b"]}),
    ("POST", "/v1/indexes/idx/search", {"query": "a", "k": 0}),
    ("POST", "/v1/indexes/idx/search", {"query": "a", "k": 51}),
    ("POST", "/v1/indexes/idx/search", {"query": "x" * 101}),
    ("POST", "/v1/indexes/idx/search", {"query": "a", "mode": "graph"}),
    ("POST", "/v1/indexes/idx/search", {"query": "a", "alpha": 2}),
    ("POST", "/v1/indexes/idx/search", {"queries": []}),
    ("POST", "/v1/indexes/idx/search", {"queries": ["a", ""]}),
    ("POST", "/v1/indexes/idx/search", json.dumps({"query": "y " * 1500}).encode()),
    ("POST", "/v1/indexes/nope/search", {"query": "a"}),
    ("GET", "/v1/indexes/idx/search", None),
    ("GET", "/v1/indexes/idx/search?q=a&shoe=1", None),
    ("GET", "/v1/indexes/idx/documents/d999", None),
    ("GET", "/nowhere", None),
    ("DELETE", "/v1/indexes/idx/search", None),
]


def test_served_shards_refuse_bad_requests_as_one_served_index(single, sharded):
    for method, path, body in BAD:
        s1, want = call(single, method, path, body)
        s2, got = call(sharded, method, path, body)
        assert s2 == s1, (method, path, body, want, got)
        assert got["error"]["code"] == want["error"]["code"], (path, body, want, got)
        assert got["error"].get("field") == want["error"].get("field"), (path, body, want, got)


def test_writes_go_to_one_shard_and_are_read_back(indexes, sharded):
    docs = [{"id": f"new-{i}", "text": f"a brand new tool number {i} for audio"} for i in range(6)]
    status, answer = call(sharded, "PUT", "/v1/indexes/idx/documents", {"documents": docs})
    assert status == 200 and answer["added"] == 6 and answer["replaced"] == 0, answer
    assert answer["documents"] == 306
    for d in docs:
        status, got = call(sharded, "GET", f"/v1/indexes/idx/documents/{d['id']}")
        assert status == 200 and got["text"] == d["text"]
    # Each went to the shard its id hashes to, and only there.
    for d in docs:
        owner = shard_of(d["id"], 2)
        for n, (_, path) in enumerate(indexes[1]):
            held = d["id"] in hypencoder.Index(path).ids
            assert held == (n == owner), (d["id"], n)
    # A replaced document stays in the shard that holds it, even where its
    # id hashes elsewhere; a search finds the new text at once.
    first = hypencoder.Index(indexes[1][0][1]).ids[0]
    status, answer = call(sharded, "PUT", "/v1/indexes/idx/documents",
                          {"documents": [{"id": first, "text": "zygomorphic xylophone quartet"}]})
    assert answer["replaced"] == 1 and answer["added"] == 0 and answer["documents"] == 306, answer
    assert first not in hypencoder.Index(indexes[1][1][1]).ids
    hits = call(sharded, "POST", "/v1/indexes/idx/search", {"query": "zygomorphic xylophone", "mode": "bm25"})[1]
    assert hits["hits"][0]["id"] == first
    status, answer = call(sharded, "DELETE", "/v1/indexes/idx/documents", {"ids": [first, "new-0", "ghost"]})
    assert status == 200 and answer["deleted"] == 2 and answer["unknown"] == ["ghost"], answer
    assert call(sharded, "GET", "/v1/indexes/idx/documents/new-0")[0] == 404


def _replicas(deployment: str):
    """The live replica actors of a deployment: their process ids."""
    import os

    pids = []
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if f"#{deployment}#" in actor["name"]:
            handle = ray.get_actor(actor["name"], namespace=actor["namespace"])
            try:
                pids.append(ray.get(handle.__ray_call__.remote(lambda self: os.getpid()), timeout=TIMEOUT))
            except ray.exceptions.RayActorError:
                pass  # dead, not yet reaped
    return pids


def _kill(deployment: str, count: int) -> None:
    import os
    import signal

    replicas = _replicas(deployment)
    assert len(replicas) >= count, replicas
    for pid in replicas[:count]:
        os.kill(pid, signal.SIGKILL)


def _ready(base: str) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        if call(base, "GET", "/readyz")[0] == 200:
            return
        time.sleep(0.5)
    raise AssertionError("the shards did not come back")


def test_a_killed_replica_fails_no_search_and_loses_no_acknowledged_write(indexes, sharded):
    import threading

    limits = Limits(**LIMITS, shard_timeout_seconds=60)
    serve.run(app(indexes[1], name="idx", replicas=2, cpus_per_replica=0.25, limits=limits), route_prefix="/")
    _ready(sharded)
    failed, acknowledged, stop = [], [], threading.Event()

    def searches():
        while not stop.is_set():
            status, answer = call(sharded, "POST", "/v1/indexes/idx/search", {"query": "audio tools", "k": 5})
            if status != 200:
                failed.append((status, answer))

    def writes():
        n = 0
        while not stop.is_set():
            doc = {"id": f"load-{n}", "text": f"document written under load, number {n}"}
            try:
                status, _ = call(sharded, "PUT", "/v1/indexes/idx/documents", {"documents": [doc]})
            except OSError:
                status = None
            if status == 200:
                acknowledged.append(doc["id"])
            n += 1

    threads = [threading.Thread(target=searches) for _ in range(2)] + [threading.Thread(target=writes)]
    for t in threads:
        t.start()
    time.sleep(2)
    _kill("reader-s1", 1)  # one of two: the other answers
    _kill("writer-s0", 1)  # the only one: writes to s0 wait for its restart
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not failed, failed[:3]
    assert len(acknowledged) >= 3
    for doc_id in acknowledged:
        assert call(sharded, "GET", f"/v1/indexes/idx/documents/{doc_id}")[0] == 200, doc_id


def test_a_shard_with_no_replica_is_named_and_comes_back(indexes, sharded):
    limits = Limits(**LIMITS, shard_timeout_seconds=1)
    serve.run(app(indexes[1], name="idx", replicas=1, cpus_per_replica=0.25, limits=limits), route_prefix="/")
    _ready(sharded)
    seen = set()
    for _ in range(5):  # Serve may restart it before a request sees it gone
        _kill("reader-s1", 1)
        status, answer = call(sharded, "POST", "/v1/indexes/idx/search", {"query": "audio tools"})
        if status == 503:
            assert answer["error"]["code"] == "shard_unavailable" and "'s1'" in answer["error"]["message"]
            seen.add("503")
        status, answer = call(sharded, "POST", "/v1/indexes/idx/search",
                              {"query": "audio tools", "allow_partial": True})
        assert status == 200, answer
        if answer.get("partial"):
            assert answer["missing"] == ["s1"] and answer["hits"], answer
            seen.add("partial")
        status, answer = call(sharded, "GET", "/readyz")
        if status == 503:
            assert answer["missing"] == ["s1"], answer
            seen.add("readyz")
        if seen == {"503", "partial", "readyz"}:
            break
        _ready(sharded)
    assert seen == {"503", "partial", "readyz"}, seen
    _ready(sharded)  # Serve restarted it
    assert call(sharded, "POST", "/v1/indexes/idx/search", {"query": "audio tools"})[0] == 200


def test_a_restarted_coordinator_reads_what_was_acknowledged(indexes, sharded):
    limits = Limits(**LIMITS, shard_timeout_seconds=60)
    serve.run(app(indexes[1], name="idx", replicas=2, cpus_per_replica=0.25, limits=limits), route_prefix="/")
    _ready(sharded)
    doc = {"id": "after-restart", "text": "written just before the coordinator was lost"}
    assert call(sharded, "PUT", "/v1/indexes/idx/documents", {"documents": [doc]})[0] == 200
    _kill("coordinator", 1)
    _ready(sharded)
    # Every reader replica answers it, though none was asked since the write.
    for _ in range(12):
        status, got = call(sharded, "GET", "/v1/indexes/idx/documents/after-restart")
        assert status == 200 and got["text"] == doc["text"], got
