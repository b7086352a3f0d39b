"""Shared fixtures: the CLI binary (the reference every Python result is
compared with), a small real corpus and a tiny model from ../shared."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT.parent / "shared" / "fixtures"
CORPUS = ROOT / "crates" / "cli" / "tests" / "data" / "debian-hard"


def _binary() -> str:
    path = os.environ.get("HYPENCODER_BIN", str(ROOT / "target" / "release" / "hypencoder"))
    if not os.access(path, os.X_OK):
        pytest.exit(f"no hypencoder binary at {path}: build it (cargo build --release) or set HYPENCODER_BIN")
    return path


@pytest.fixture(scope="session")
def cli():
    """Runs the CLI; returns stdout, failing the test with stderr if it fails."""
    binary = _binary()

    def run(*args: str) -> str:
        done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, f"hypencoder {' '.join(map(str, args))}: {done.stderr}"
        return done.stdout

    return run


@pytest.fixture(scope="session")
def tiny_model() -> str:
    return str(FIXTURES / "tiny-2layer")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """The first 300 documents of the debian-hard test corpus (real package
    descriptions)."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    lines = (CORPUS / "corpus.jsonl").read_text().splitlines()[:300]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def queries() -> list:
    lines = (CORPUS / "queries.heldout.jsonl").read_text().splitlines()[:20]
    return [json.loads(l) for l in lines]


def read_jsonl(text: str) -> list:
    return [json.loads(l) for l in text.splitlines() if l.strip()]
