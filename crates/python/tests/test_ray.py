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


def test_two_shards_give_the_top_k_of_one_index(local_ray, tiny_model, corpus, tmp_path):
    lines = corpus.read_text().splitlines()
    model = hypencoder.Model(tiny_model)
    halves = []
    for n, part in enumerate([lines[:130], lines[130:]]):
        path = tmp_path / f"part{n}.jsonl"
        path.write_text("\n".join(part) + "\n")
        hypencoder.build_index(path, tmp_path / f"shard{n}", model)
        halves.append(str(tmp_path / f"shard{n}"))
    whole = hypencoder.build_index(corpus, tmp_path / "whole", model)
    sharded = ShardedIndex(halves)
    assert len(sharded) == 300
    queries = [json.loads(l)["text"] for l in lines[:15]]
    for k in (1, 10, 40):
        got = sharded.search(queries, k, mode="exhaustive")
        want = whole.search(queries, k, mode="exhaustive")
        for (gi, gs), (wi, ws) in zip(got, want):
            assert gi == wi
            np.testing.assert_allclose(gs, ws, atol=1e-6, rtol=0)
