//! What every crate's integration tests share, so no helper is written
//! twice (as ripgrep's `tests/util.rs`): scratch folders cleaned up on drop,
//! the paths of the parity fixtures and the real MiniLM model, reading the
//! fixtures' `expected.json`, a small seeded RNG, and running a binary.
//!
//! A dev-dependency only: nothing here is part of the engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// A fresh folder under [`std::env::temp_dir`], removed (with everything in
/// it) when dropped.
///
/// The name joins the tag, the process id and a per-process counter, so
/// tests running in parallel, in one binary or several, never share one
/// even when they pass the same tag.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Creates an empty scratch folder; `tag` says which test it belongs to.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("hypencoder-test-{tag}-{}-{n}", std::process::id()));
        // Left over by a killed run of a process with the same id.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder can be created");
        Scratch { dir }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `name` inside the folder (not created).
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.join(name)
    }

    /// `name` inside the folder as a string, for command-line arguments.
    pub fn arg(&self, name: impl AsRef<Path>) -> String {
        self.join(name).display().to_string()
    }

    /// Writes `contents` to `name` inside the folder and returns its path.
    pub fn write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("scratch file can be written");
        path
    }

    /// [`Scratch::write`], returning the path as a command-line argument.
    pub fn write_arg(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> String {
        self.write(name, contents).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared parity fixtures: `$HYPENCODER_FIXTURES`, or `../shared/fixtures`
/// beside the repository.
pub fn fixtures() -> PathBuf {
    std::env::var("HYPENCODER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("../shared/fixtures"))
}

/// One fixture checkpoint folder, e.g. `fixture("tiny-2layer")`.
pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// all-MiniLM-L6-v2 as a Hugging Face folder: `$HYPENCODER_MINILM`, or where
/// `scripts/fetch-minilm` puts it. Panics, saying how to get it, if absent.
pub fn minilm() -> PathBuf {
    let dir = std::env::var("HYPENCODER_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("models/all-MiniLM-L6-v2"));
    assert!(
        dir.join("config.json").is_file(),
        "all-MiniLM-L6-v2 not found at {}: run scripts/fetch-minilm (or set HYPENCODER_MINILM)",
        dir.display()
    );
    dir
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The reference outputs of fixture `name` (its `expected.json`).
pub fn expected_json(name: &str) -> Value {
    read_json(&fixture(name).join("expected.json"))
}

/// The list of strings under `key`, e.g. a fixture's "queries".
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list '{key}'"))
        .iter()
        .map(|s| s.as_str().expect("a list of strings").to_string())
        .collect()
}

/// The texts under `key` of fixture `name`'s `expected.json`.
pub fn fixture_texts(name: &str, key: &str) -> Vec<String> {
    strings(&expected_json(name), key)
}

/// JSONL lines `{"id": "{prefix}{i}", "text": ...}`, one per text.
pub fn jsonl(prefix: &str, texts: &[String]) -> String {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": format!("{prefix}{i}"), "text": t}).to_string() + "\n"
        })
        .collect()
}

/// Allowed |ours - reference| for a reference score `s` of fixture `name`.
///
/// The deep fixtures get a relative term: their random q-nets are
/// ill-conditioned (ReLU leaves few units alive, so each parameter-free
/// LayerNorm divides by a tiny spread). Evaluating a fixture's own q-net
/// weights on its own passage embeddings in f64 differs from its f32 scores
/// by up to 2.3e-4 (tiny-6layer-bin) and 1.9e-4 (tiny-mean-unshared): the
/// noise the reference's f32 kernels put into those scores. The
/// well-conditioned tiny-2layer is held to 1e-4 absolute.
pub fn score_tolerance(name: &str, s: f64) -> f64 {
    if name == "tiny-2layer" {
        1e-4
    } else {
        1e-4 + 1e-3 * s.abs()
    }
}

/// A small seeded generator for test data: Knuth's MMIX linear congruential
/// generator. Deterministic, so a failing case can be rerun; not for
/// anything but drawing test inputs. Values come from the high bits, which
/// are the good ones of an LCG.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64-bit state.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }

    /// Uniform in [-1, 1), from the top 24 bits.
    pub fn f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Uniform in [-1, 1), from the top 53 bits.
    pub fn f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// `n` values of [`Rng::f32`].
    pub fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }

    /// `n` values of [`Rng::f64`].
    pub fn f64s(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.f64()).collect()
    }

    /// Uniform in `0..n` (`n > 0`), from the top 32 bits.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// One of `items`, uniformly.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A program under test, run with arguments; for a crate's binary pass
/// `env!("CARGO_BIN_EXE_<name>")`, which only its integration tests see.
#[derive(Clone, Copy, Debug)]
pub struct Binary(pub &'static str);

impl Binary {
    /// A command running the program with `args`, to add environment to.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.0);
        cmd.args(args);
        cmd
    }

    /// Runs the program with `args`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("binary runs")
    }

    /// Runs the program with `args`; it must succeed.
    pub fn ok(&self, args: &[&str]) -> Output {
        succeeds(&mut self.command(args))
    }

    /// Runs the program with `args`; it must fail with an error, not a
    /// panic. Returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        err
    }
}

/// Runs `cmd`, which must succeed (its stderr is shown if not).
pub fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("binary runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The stdout of a successful run as UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// The stderr of a run, lossily as UTF-8 (progress and log lines).
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The stdout of a successful run parsed as one JSON value.
pub fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// The stdout of a successful run parsed as JSON lines.
pub fn stdout_jsonl(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}
