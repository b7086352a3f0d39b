"""Encoding on a local Ray cluster (2 CPUs) and searching shards with Ray
actors, against the CLI and against one index."""

import json

import numpy as np
import pytest

import hypencoder

ray = pytest.importorskip("ray")
from hypencoder.ray import ShardedIndex, encode_corpus  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_encoding_equals_cli_index(local_ray, cli, tiny_model, corpus, tmp_path):
    cli("index", "--model", tiny_model, "--corpus", corpus, "--index", tmp_path / "cli")
    want = hypencoder.Index(tmp_path / "cli")
    got = encode_corpus(str(corpus), str(tmp_path / "ray"), tiny_model, actors=2, block_size=64)
    assert got.ids == want.ids  # corpus order, as `hypencoder index`
    # The vectors themselves (vectors.bin: a 64-byte header, then f32 rows).
    vectors = [np.fromfile(tmp_path / d / "vectors.bin", dtype="<f4", offset=64) for d in ("ray", "cli")]
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6, rtol=0)
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["count"] == 300 and manifest["model"]["kind"] == "hypencoder"
    q = ["tool to convert audio files", "kernel module for wifi"]
    for (gi, gs), (wi, ws) in zip(got.search(q, 10, mode="exhaustive"), want.search(q, 10, mode="exhaustive")):
        assert gi == wi
        np.testing.assert_allclose(gs, ws, atol=1e-6, rtol=0)
    # No scratch left beside the output.
    assert [p.name for p in tmp_path.iterdir() if ".ray-" in p.name] == []


def test_failed_ray_run_leaves_no_index(local_ray, tiny_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(hypencoder.HypencoderError, match="duplicate id 'a'"):
        encode_corpus(str(bad), str(tmp_path / "out"), tiny_model)
    assert list(tmp_path.iterdir()) == [bad]


SETTINGS = [
    {"mode": "exhaustive"},
    {"mode": "bm25"},
    {"mode": "rerank", "candidates": 30},
    {"mode": "hybrid", "neural": "exhaustive", "fusion": "linear", "candidates": 30},
    {"mode": "hybrid", "neural": "exhaustive", "fusion": "rrf", "candidates": 30},
    {"mode": "hybrid", "neural": "exhaustive", "fusion": "dbsf", "alpha": 0.4},
]


@pytest.mark.parametrize("cuts", [[130], [70, 200]], ids=["2 shards", "3 shards"])
def test_shards_answer_as_one_index_in_every_mode(local_ray, tiny_model, corpus, tmp_path, cuts):
    lines = corpus.read_text().splitlines()
    model = hypencoder.Model(tiny_model)
    paths = []
    for n, (a, b) in enumerate(zip([0] + cuts, cuts + [len(lines)])):
        path = tmp_path / f"part{n}.jsonl"
        path.write_text("\n".join(lines[a:b]) + "\n")
        hypencoder.build_index(path, tmp_path / f"shard{n}", model, graph_degree=16)
        paths.append(str(tmp_path / f"shard{n}"))
    whole = hypencoder.build_index(corpus, tmp_path / "whole", model, graph_degree=16)
    sharded = ShardedIndex(paths, cpus_per_shard=0.5)  # three fit the 2 CPUs
    assert len(sharded) == 300
    queries = [json.loads(l)["text"][:60] for l in lines[:15]] + ["audio", "kernel module wifi driver"]
    for settings in SETTINGS:
        for k in (1, 10):
            got = sharded.search(queries, k, **settings)
            want = whole.search(queries, k, **settings)
            for (gi, gs), (wi, ws) in zip(got, want):
                assert gi == wi, settings
                np.testing.assert_allclose(gs, ws, atol=1e-6, rtol=0)
    # The default (hybrid over the graph) finds one index's top 10.
    got, want = sharded.search(queries, 10), whole.search(queries, 10)
    found = sum(len(set(g[0]) & set(w[0])) for g, w in zip(got, want))
    assert found / sum(len(w[0]) for w in want) >= 0.9
