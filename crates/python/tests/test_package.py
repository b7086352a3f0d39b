"""The Python package against the CLI: every call on a small index, ids
exactly and scores within 1e-6 of the CLI's, and bad arguments raising
clear exceptions."""

import json

import numpy as np
import pytest

import hypencoder
from conftest import CORPUS, read_jsonl


@pytest.fixture(scope="module")
def built(tmp_path_factory, cli, tiny_model, corpus):
    """The same corpus indexed by the CLI and by the package (graph and
    lexical part in both)."""
    root = tmp_path_factory.mktemp("built")
    by_cli = root / "cli"
    cli("index", "--model", tiny_model, "--corpus", corpus, "--index", by_cli, "--graph-degree", "8")
    # "auto" is `hypencoder index`'s default: both resolve it alike.
    model = hypencoder.Model(tiny_model, encode_precision="auto")
    by_py = root / "py"
    index = hypencoder.build_index(corpus, by_py, model, graph_degree=8)
    return by_cli, index, model


def test_encode_documents_matches_cli_embed(cli, tiny_model, corpus):
    model = hypencoder.Model(tiny_model)
    docs = read_jsonl(corpus.read_text())[:40]
    got = model.encode_documents([d["text"] for d in docs], batch_size=7)
    assert got.dtype == np.float32 and got.shape == (40, model.dim)
    want = np.array(
        [r["embedding"] for r in read_jsonl(cli("embed", "--model", tiny_model, "--input", corpus))[:40]],
        dtype=np.float32,
    )
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_int8_encoding_matches_cli_embed_and_stays_near_f32(cli, tiny_model, corpus):
    model = hypencoder.Model(tiny_model, encode_precision="int8")
    assert model.encode_precision == "int8"
    texts = [d["text"] for d in read_jsonl(corpus.read_text())[:20]]
    got = model.encode_documents(texts, batch_size=7)
    embed = cli("embed", "--model", tiny_model, "--input", corpus, "--encode-precision", "int8")
    want = np.array([r["embedding"] for r in read_jsonl(embed)[:20]], dtype=np.float32)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    f32 = hypencoder.Model(tiny_model).encode_documents(texts, batch_size=7)
    assert np.abs(got - f32).max() > 1e-6, "int8 changed nothing"
    cos = (got * f32).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(f32, axis=1))
    assert cos.min() > 0.98, cos.min()
    with pytest.raises(ValueError, match="int4"):
        hypencoder.Model(tiny_model, encode_precision="int4")


def test_score_matches_cli_score(cli, tiny_model, corpus, queries, tmp_path):
    model = hypencoder.Model(tiny_model)
    docs = read_jsonl(corpus.read_text())[:25]
    q = tmp_path / "q.jsonl"
    q.write_text("".join(json.dumps(x) + "\n" for x in queries[:5]))
    d = tmp_path / "d.jsonl"
    d.write_text("".join(json.dumps(x) + "\n" for x in docs))
    want = np.array(json.loads(cli("score", "--model", tiny_model, "--queries", q, "--docs", d))["scores"])
    got = model.score([x["text"] for x in queries[:5]], [x["text"] for x in docs])
    assert got.shape == (5, 25)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["exhaustive", "graph", "bm25", "hybrid"])
def test_search_matches_cli_search(built, cli, queries, tmp_path, mode):
    by_cli, index, _ = built
    q = tmp_path / "q.jsonl"
    q.write_text("".join(json.dumps(x) + "\n" for x in queries))
    want = read_jsonl(cli("search", "--index", by_cli, "--queries", q, "--k", "10", "--mode", mode, "--format", "jsonl"))
    got = index.search([x["text"] for x in queries], k=10, mode=mode)
    assert len(got) == len(want) == len(queries)
    for (ids, scores), w in zip(got, want):
        assert ids == [h["id"] for h in w["hits"]]
        np.testing.assert_allclose(scores, [h["score"] for h in w["hits"]], atol=1e-6, rtol=0)


def test_index_contents(built, corpus):
    by_cli, index, model = built
    docs = read_jsonl(corpus.read_text())
    assert len(index) == len(docs) == 300
    assert index.ids == [str(d["id"]) for d in docs]
    assert index.document(str(docs[7]["id"])) == docs[7]["text"]
    with pytest.raises(KeyError):
        index.document("no-such-id")
    # The package's index and the CLI's hold the same vectors.
    cli_index = hypencoder.Index(by_cli, model)
    assert cli_index.ids == index.ids


def test_frame_and_query_forms(built, queries):
    _, index, _ = built
    pairs = [(x["id"], x["text"]) for x in queries[:3]]
    frame = index.search(pairs, k=4, as_frame=True)
    assert list(frame.columns) == ["qid", "query", "docno", "score", "rank"]
    assert len(frame) == 12
    assert list(frame["qid"][:4]) == [str(queries[0]["id"])] * 4
    assert list(frame["rank"][:4]) == [0, 1, 2, 3]
    listed = index.search([t for _, t in pairs], k=4)
    assert list(frame["docno"][:4]) == listed[0][0]
    import pandas as pd

    topics = pd.DataFrame({"qid": [q for q, _ in pairs], "query": [t for _, t in pairs]})
    assert index.search(topics, k=4, as_frame=True).equals(frame)
    assert index.search(pairs[0][1], k=4) == listed[:1]


def test_iterable_corpus_and_writer_and_merge(built, corpus, tmp_path):
    by_cli, index, model = built
    docs = read_jsonl(corpus.read_text())
    pairs = [(str(d["id"]), d["text"]) for d in docs]
    from_pairs = hypencoder.build_index(iter(pairs), tmp_path / "pairs", model)
    q = ["backup tool for remote servers"]
    assert from_pairs.search(q, mode="exhaustive") == index.search(q, mode="exhaustive")

    # Pieces written from precomputed vectors, merged: the same index.
    vectors = model.encode_documents([t for _, t in pairs])
    pieces = []
    for n, part in enumerate([slice(0, 120), slice(120, 300)]):
        w = hypencoder.IndexWriter(str(tmp_path / f"piece{n}"), model)
        w.add([i for i, _ in pairs[part]], vectors[part], [t for _, t in pairs[part]])
        assert w.finish() == len(pairs[part])
        pieces.append(tmp_path / f"piece{n}")
    merged = hypencoder.merge(pieces, tmp_path / "merged")
    assert merged.ids == index.ids
    got = merged.search(q, k=10, mode="exhaustive")[0]
    want = index.search(q, k=10, mode="exhaustive")[0]
    assert got[0] == want[0]
    np.testing.assert_allclose(got[1], want[1], atol=1e-6, rtol=0)


def _judged(corpus):
    """The debian-hard queries (train and held out) whose package is among
    the corpus's documents, and their qrels, as dicts."""
    ids = {str(d["id"]) for d in read_jsonl(corpus.read_text())}
    queries, qrels = {}, {}
    for split in ("train", "heldout"):
        for q in read_jsonl((CORPUS / f"queries.{split}.jsonl").read_text()):
            queries[q["id"]] = q["text"]
        for line in (CORPUS / f"qrels.{split}.tsv").read_text().splitlines():
            qid, _, doc, rel = line.split()
            if doc in ids:
                qrels.setdefault(qid, {})[doc] = int(rel)
    return {q: t for q, t in queries.items() if q in qrels}, qrels


def test_tune_records_what_search_then_uses(tiny_model, corpus, tmp_path):
    model = hypencoder.Model(tiny_model)
    index = hypencoder.build_index(corpus, tmp_path / "idx", model)
    queries, qrels = _judged(corpus)
    assert len(queries) >= 100
    texts = list(queries.values())[:10]
    shipped = index.search(texts, k=10)

    dry = index.tune(queries, qrels, metric="ndcg@10", dry_run=True)
    assert dry["generation"] is None and index.search_defaults == {}
    assert dry["queries"] == len(queries) and len(dry["rows"]) > 100
    assert dry["shipped"] in dry["rows"]
    assert dry["rows"][0]["score"] >= dry["shipped"]["score"]
    assert dry["decision"] in ("tuned", "shipped_best", "no_held_out_gain", "few_queries")

    done = index.tune(queries, qrels)
    assert isinstance(done["generation"], int)
    if done["decision"] != "tuned":
        assert index.search_defaults == {}
        return
    best = {k: v for k, v in done["rows"][0]["setting"].items()}
    assert index.search_defaults == best
    # The open index searches with the recorded settings, as a fresh one
    # does, and as the settings given explicitly do.
    assert index.search(texts, k=10) == index.search(texts, k=10, **best)
    assert hypencoder.Index(tmp_path / "idx", model).search(texts, k=10) == index.search(texts, k=10)
    explicit = {"fusion": "linear", "alpha": 0.7, "candidates": 100, "bm25_k1": 0.5, "bm25_b": 0.75}
    assert index.search(texts, k=10, **explicit) == shipped


def test_bad_input_raises_clear_errors(built, tiny_model, tmp_path):
    index_path, index, model = built
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "txt": "typo"}\n')
    with pytest.raises(hypencoder.HypencoderError, match=r"bad\.jsonl:2: missing field 'text'"):
        hypencoder.build_index(bad, tmp_path / "never", model)
    assert not (tmp_path / "never").exists()
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(hypencoder.HypencoderError, match="duplicate id 'a' on lines 1 and 2"):
        hypencoder.build_index(dup, tmp_path / "never", model)
    with pytest.raises(ValueError, match='mode "fast"'):
        index.search(["x"], mode="fast")
    with pytest.raises(ValueError, match="unknown_option"):
        index.search(["x"], unknown_option=3)
    with pytest.raises(ValueError, match="query 0"):
        index.search([42])
    with pytest.raises(hypencoder.HypencoderError, match="manifest"):
        hypencoder.Index(tmp_path / "no-index")
    with pytest.raises(hypencoder.HypencoderError, match="not a model folder"):
        hypencoder.Model(tmp_path / "no-model")
    from conftest import FIXTURES

    other = hypencoder.Model(FIXTURES / "tiny-mean-unshared")
    with pytest.raises(hypencoder.HypencoderError, match="document encoder"):
        hypencoder.Index(index_path, other)
    w = hypencoder.IndexWriter(str(tmp_path / "w"), model)
    with pytest.raises(ValueError, match="expected \\(2, "):
        w.add(["a", "b"], np.zeros((3, model.dim), dtype=np.float32))
    with pytest.raises(hypencoder.HypencoderError, match="duplicate id 'a'"):
        w.add(["a", "a"], np.zeros((2, model.dim), dtype=np.float32))


def test_default_model_from_the_installed_package():
    model = hypencoder.Model()
    assert model.kind == "hypencoder" and model.dim == 384
    v = model.encode_documents(["apt package manager front end"])
    assert v.shape == (1, 384) and np.isfinite(v).all()


def test_readme_python_example_runs(capsys, monkeypatch):
    """The README's Python example, run as written from the repository root."""
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python"):]
    code = section[section.index("```python\n") + 10:]
    code = code[: code.index("```")]
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "3"
    assert "docno" in "\n".join(printed) and "qid" in "\n".join(printed)


def test_fields_filter_every_mode_as_the_cli_does(tiny_model, tmp_path, cli):
    topics = ["volcanoes of Iceland", "Debian package manager", "sourdough bread", "orbits of comets"]
    docs = [
        (f"d{i}", f"{topics[i % 4]} (note {i})", {"section": str(i % 3), "year": 2000 + i})
        for i in range(24)
    ]
    # As `hypencoder index` encodes without --encode-precision.
    model = hypencoder.Model(tiny_model, encode_precision="auto")
    index = hypencoder.build_index(docs, tmp_path / "idx", model, graph_degree=6)
    assert index.fields("d5") == {"section": "2", "year": 2005}
    flt = {"section": "1", "year": {"gte": 2010}}
    for mode in ["exhaustive", "graph", "bm25", "rerank", "hybrid"]:
        ids, scores, fields = index.search("Debian package manager", k=5, mode=mode, filter=flt, include_fields=["year"])[0]
        assert ids, mode
        assert all(int(i[1:]) % 3 == 1 and int(i[1:]) >= 10 for i in ids), (mode, ids)
        assert fields == [{"year": 2000 + int(i[1:])} for i in ids]
        # The same hits and scores as the CLI's --filter.
        corpus = tmp_path / "corpus.jsonl"
        if not corpus.exists():
            corpus.write_text("".join(json.dumps({"id": i, "text": t, **f}) + "\n" for i, t, f in docs))
            cli("index", "--model", tiny_model, "--corpus", corpus, "--index", tmp_path / "cli", "--graph-degree", "6")
        out = read_jsonl(cli("search", "--index", tmp_path / "cli", "--query", "Debian package manager", "--k", "5",
                             "--mode", mode, "--filter", json.dumps(flt), "--format", "jsonl"))
        assert [h["id"] for h in out[0]["hits"]] == ids, mode
        assert [h["score"] for h in out[0]["hits"]] == pytest.approx(scores, abs=1e-6), mode
    frame = index.search(["comets"], k=3, filter={"year": {"lt": 2008}}, include_fields=True, as_frame=True)
    assert set(frame.columns) >= {"qid", "docno", "score", "rank", "section", "year"}
    assert (frame["year"] < 2008).all()
    with pytest.raises(hypencoder.HypencoderError, match=r"filter at \$\.section: a range needs a number field"):
        index.search("x", filter={"section": {"gt": 1}})
    with pytest.warns(UserWarning, match="no document has the field 'colour'"):
        assert index.search("x", filter={"colour": "red"}) == [([], [])]
