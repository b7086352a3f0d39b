"""The type stubs (``_native.pyi``) hold to the compiled module: the same
classes, functions and methods, with the same parameters; and every search
setting the engine has is a keyword of ``Index.search``."""

import ast
import inspect
from pathlib import Path

import pytest

import hypencoder
from hypencoder import _native

STUBS = Path(hypencoder.__file__).parent / "_native.pyi"


def _stubs():
    tree = ast.parse(STUBS.read_text())
    classes, functions = {}, {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    args = item.args
                    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
                    methods[item.name] = [n for n in names if n not in ("self", "cls")]
            classes[node.name] = methods
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = [a.arg for a in node.args.args]
    return classes, functions


def _public(obj):
    return {n for n in dir(obj) if not n.startswith("_")}


def test_stubs_name_exactly_what_the_module_has():
    classes, functions = _stubs()
    module = {n for n in _public(_native) if n != "SEARCH_SETTINGS"}
    assert module == set(classes) | set(functions)
    for name, params in functions.items():
        assert list(inspect.signature(getattr(_native, name)).parameters) == params, name
    for name, methods in classes.items():
        cls = getattr(_native, name)
        if issubclass(cls, BaseException):
            assert not methods, name
            continue
        stubbed = {m for m in methods if not m.startswith("_")}
        assert stubbed == _public(cls), name
        for method, params in methods.items():
            if method.startswith("_") and method != "__new__":
                continue
            member = inspect.getattr_static(cls, method)
            if isinstance(member, property) or type(member).__name__ == "getset_descriptor":
                continue
            native = [p for p in inspect.signature(getattr(cls, method)).parameters
                      if p not in ("self", "cls", "$self", "$cls")]
            if method == "search":
                # **options in the module; each setting spelled out in the stub.
                assert native == ["queries", "k", "filter", "with_fields", "options"], native
                assert params == ["queries", "k", "filter", "with_fields", *_native.SEARCH_SETTINGS[1:]], params
            elif method == "search_shard":
                assert native == ["queries", "stats", "k", "filter", "options"], native
                assert params == ["queries", "stats", "k", "filter", *_native.SEARCH_SETTINGS[1:]], params
            elif method == "__new__":
                continue
            else:
                assert native == params, f"{name}.{method}: {native} != {params}"


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_model, corpus):
    """The corpus indexed by the package, with a lexical part, no graph."""
    root = tmp_path_factory.mktemp("stubs")
    return hypencoder.build_index(corpus, root / "idx", hypencoder.Model(tiny_model))


def test_every_search_setting_is_a_keyword(index):
    values = {
        "k": 3, "mode": "exhaustive", "candidates": 50, "fusion": "rrf", "alpha": 0.7,
        "rrf_k": 30.0, "neural": "exhaustive", "algorithm": "beam", "entry_points": 8,
        "ef": 64, "expand": 2, "ncandidates": 20, "max_iter": 8, "no_early_stop": True,
        "seed": 7, "precision": "f32", "bm25_k1": 1.2, "bm25_b": 0.5,
    }
    assert sorted(values) == sorted(hypencoder.SEARCH_SETTINGS)
    for name, value in values.items():
        options = {name: value}
        k = options.pop("k", 10)
        ids, scores = index.search(["apt package manager"], k=k, **options)[0]
        assert len(ids) == min(k, len(index)), name
    with pytest.raises(ValueError, match="ef"):
        index.search(["x"], ef="many")


def test_errors_are_told_apart_by_class(index, tmp_path):
    with pytest.raises(hypencoder.NotFoundError):
        hypencoder.Index(tmp_path / "no-index")
    with pytest.raises(hypencoder.InvalidInputError, match="k: must be at least 1"):
        index.search(["x"], k=0)
    with pytest.raises(hypencoder.UnsupportedError, match="no neighbour graph"):
        index.search(["x"], mode="graph")
