"""Debian bookworm's archive for build_corpus.py: a private apt update, the
Packages / Sources / Translation-en indexes, downloads with apt's own
downloader, and the texts inside source packages' Debian packaging.

Nothing here touches the system's apt state: the indexes go to a private
lists folder (scripts/build-debian-pkg's apt_update), and files are fetched
with ``/usr/lib/apt/apt-helper download-file URI PATH SHA256:...`` into a
cache folder.
"""

import concurrent.futures
import gzip
import importlib.machinery
import importlib.util
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SUITES = ("bookworm", "bookworm-updates")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
INDEX_TARGETS = {("deb", "Packages"), ("deb", "Translations"), ("deb-src", "Sources")}
APT_HELPER = "/usr/lib/apt/apt-helper"
FILES_PER_CALL = 16  # one apt-helper call fetches several files over one connection
# Texts read from a source package's Debian packaging, and their source kind.
DEBIAN_TEXTS = {"debian/changelog": "changelog", "debian/NEWS": "changelog",
                "debian/README.Debian": "text"}

_REPO = Path(__file__).resolve().parents[2]


def _build_debian_pkg():
    """scripts/build-debian-pkg as a module (it has no .py suffix)."""
    path = _REPO / "scripts" / "build-debian-pkg"
    loader = importlib.machinery.SourceFileLoader("build_debian_pkg", str(path))
    spec = importlib.util.spec_from_loader("build_debian_pkg", loader)
    module = importlib.util.module_from_spec(spec)
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


BUILD_DEBIAN_PKG = _build_debian_pkg()
version_cmp = BUILD_DEBIAN_PKG.version_cmp


# ------------------------------------------------------------ indexes

def update_lists(lists_dir):
    """apt-get update of bookworm and bookworm-updates (main; deb and
    deb-src) into the private lists_dir: Packages, Translation-en, Sources."""
    lists_dir = Path(lists_dir).resolve()
    lists_dir.mkdir(parents=True, exist_ok=True)
    sources = lists_dir.parent / "bookworm.sources"
    sources.write_text(f"Types: deb deb-src\nURIs: {MIRROR}\nSuites: {' '.join(SUITES)}\n"
                       f"Components: main\nSigned-By: {KEYRING}\n")
    return BUILD_DEBIAN_PKG.apt_update(lists_dir, sources, None, INDEX_TARGETS)


def index_files(lists_dir, suffix):
    """The lists_dir files of one index kind (e.g. "_Sources"), sorted."""
    return sorted(str(p) for p in Path(lists_dir).glob(f"*{suffix}") if p.is_file())


def stanzas(path):
    """{field: value} of each stanza of a deb822 index; a multi-line field's
    value keeps its continuation lines."""
    text = BUILD_DEBIAN_PKG.read_index(Path(path))
    for block in text.split("\n\n"):
        fields, name = {}, None
        for line in block.split("\n"):
            if line[:1] in (" ", "\t"):
                if name:
                    fields[name] += "\n" + line
            elif ":" in line:
                name, value = line.split(":", 1)
                fields[name] = value.strip()
        if fields:
            yield fields


def newest(records):
    """{name: record} keeping the highest Version of each Package."""
    best = {}
    for record in records:
        name = record.get("Package")
        if name and (name not in best
                     or version_cmp(record["Version"], best[name]["Version"]) > 0):
            best[name] = record
    return best


def read_packages(lists_dir, arch):
    """{package: Packages record} of the newest version of every binary
    package of the native architecture or "all"."""
    return newest(r for path in index_files(lists_dir, "_Packages") for r in stanzas(path)
                  if r.get("Architecture") in (arch, "all"))


def read_sources(lists_dir):
    """{source package: Sources record} of the newest version of each, with
    "files": [(name, bytes, sha256)]."""
    best = newest(r for path in index_files(lists_dir, "_Sources") for r in stanzas(path))
    for record in best.values():
        record["files"] = [(name, int(size), sha) for sha, size, name in
                           (line.split() for line in
                            record.get("Checksums-Sha256", "").split("\n") if line.strip())]
    return best


def best_binaries(packages, eligible, score):
    """{source package: the Packages record of its binary package that
    eligible() accepts with the highest score(), the smaller .deb on a tie}."""
    best = {}
    for name in sorted(packages):
        record = packages[name]
        if not eligible(record):
            continue
        source = record.get("Source", name).split()[0]
        key = (score(record), -int(record["Size"]))
        if source not in best or key > best[source][0]:
            best[source] = (key, record)
    return {source: record for source, (_, record) in best.items()}


def contents_counts(lists_dir, arch, cache, want):
    """{binary package: how many of its files want() accepts}, from the
    Contents-ARCH and Contents-all indexes of bookworm main (fetched into
    cache, checked against the hashes in the InRelease file that apt
    verified), looking only at paths under usr/share/doc and usr/share/info.
    Returns the counts and the bytes fetched."""
    release = next(Path(lists_dir).glob("*_dists_bookworm_InRelease")).read_text()
    hashes = {name: sha for sha, name in
              re.findall(r"^ ([0-9a-f]{64}) +\d+ (main/Contents-\S+\.gz)$",
                         release.split("\nSHA256:\n", 1)[1], re.M)}
    items = []
    for name in (f"main/Contents-{arch}.gz", "main/Contents-all.gz"):
        sha = hashes[name]
        path = Path(cache) / f"bookworm_{name.replace('/', '_')[:-3]}_{sha[:12]}.gz"
        items.append((f"{MIRROR}/dists/bookworm/{name}", str(path), sha))
    fetched, failed = download(items)
    if failed:
        raise RuntimeError(f"could not download {failed[0][0]}")
    counts = {}
    for _, path, _ in items:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.startswith(("usr/share/doc/", "usr/share/info/")):
                    continue
                file_path, _, owners = line.rstrip("\n").rpartition(" ")
                if want(file_path.rstrip()):
                    for owner in owners.split(","):
                        package = owner.rsplit("/", 1)[-1]
                        counts[package] = counts.get(package, 0) + 1
    return counts, fetched


def packaging_file(record, max_native_bytes):
    """(name, bytes, sha256) of the file of a source package that holds its
    debian/ folder: the .debian.tar.* of a 3.0 (quilt) package, the .diff.gz
    of a 1.0 one, or the whole source of a native package (3.0 (native), or
    1.0 without a diff) if it is at most max_native_bytes; else None."""
    files = record["files"]
    for pattern in (r"\.debian\.tar\.(xz|gz|bz2)$", r"\.diff\.gz$"):
        found = [f for f in files if re.search(pattern, f[0])]
        if found:
            return found[0]
    native = [f for f in files if re.search(r"\.tar\.(xz|gz|bz2)$", f[0])
              and ".orig" not in f[0]]
    if len(native) == 1 and native[0][1] <= max_native_bytes:
        return native[0]
    return None


# ------------------------------------------------------------ downloading

def download(items):
    """Fetches (uri, path, sha256) items that are not in place yet with one
    apt-helper call (which checks each file's hash); returns the bytes
    fetched and the items that failed."""
    missing = [item for item in items if not Path(item[1]).exists()]
    if not missing:
        return 0, []
    args = []
    for uri, path, sha in missing:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        args += [uri, f"{path}.part", f"SHA256:{sha}"]
    subprocess.run(["nice", "-n", "19", "ionice", "-c3", APT_HELPER,
                    "-o", "Acquire::http::Timeout=30", "-o", "Acquire::Retries=2",
                    "download-file", *args],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fetched, failed = 0, []
    for item in missing:
        part = Path(f"{item[1]}.part")
        if part.exists():
            part.rename(item[1])
            fetched += Path(item[1]).stat().st_size
        else:
            failed.append(item)
        Path(f"{part}.FAILED").unlink(missing_ok=True)
    return fetched, failed


def prefetch(jobs, workers, ahead, fetch=download):
    """Yields (job, bytes fetched, failed items) for each job (a list of
    (uri, path, sha256)) in order, with up to `ahead` jobs downloading in
    `workers` threads; stopping the generator stops the downloads after
    the ones under way."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = []
        try:
            for n, job in enumerate(jobs):
                while len(futures) < n + ahead and len(futures) < len(jobs):
                    futures.append(pool.submit(fetch, jobs[len(futures)]))
                fetched, failed = futures[n].result()
                yield job, fetched, failed
        finally:
            for future in futures:
                future.cancel()


# ------------------------------------------------------------ reading packaging

def packaging_texts(path):
    """(path inside the package, kind, text) of debian/changelog, debian/NEWS
    and debian/README.Debian in a .debian.tar.*, a native source tarball or
    a 1.0 .diff.gz (there: the lines the diff adds to those files)."""
    path = str(path)
    try:
        if path.endswith(".diff.gz"):
            yield from _diff_texts(gzip.decompress(Path(path).read_bytes()))
        else:
            yield from _tar_texts(path)
    except (OSError, EOFError, tarfile.TarError, UnicodeDecodeError) as error:
        print(f"warning: {Path(path).name}: {error}", file=sys.stderr)


def deb_members(path, want, max_bytes):
    """(path, bytes) of the regular files of a .deb whose path (without the
    leading "./") want() accepts, read with the standard library (the ar
    archive, then its data tarball); dpkg-deb --fsys-tarfile for a tarball
    compression tarfile cannot read."""
    with open(path, "rb") as deb:
        if deb.read(8) != b"!<arch>\n":
            raise ValueError(f"{path}: not a .deb")
        while True:
            header = deb.read(60)
            if len(header) < 60:
                raise ValueError(f"{path}: no data.tar member")
            name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
            if name.startswith("data.tar"):
                break
            deb.seek(size + size % 2, 1)
        if name in ("data.tar", "data.tar.xz", "data.tar.gz", "data.tar.bz2"):
            yield from _members(tarfile.open(fileobj=io.BytesIO(deb.read(size)), mode="r|*"),
                                want, max_bytes)
            return
    cmd = ["dpkg-deb", "--fsys-tarfile", str(path)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
        yield from _members(tarfile.open(fileobj=proc.stdout, mode="r|"), want, max_bytes)
        proc.stdout.read()  # let dpkg-deb finish writing


def _members(tar, want, max_bytes):
    with tar:
        for member in tar:
            path = member.name.lstrip("./")
            if member.isfile() and member.size <= max_bytes and want(path):
                yield path, tar.extractfile(member).read()


def _wanted(member_path):
    """DEBIAN_TEXTS key of a path ("debian/changelog", or
    "hello-1.0/debian/changelog" in a native tarball), or None."""
    parts = member_path.lstrip("./").split("/")
    if len(parts) > 3:
        return None
    key = "/".join(parts[-2:])
    return key if key in DEBIAN_TEXTS and (len(parts) == 2 or parts[0] != "debian") else None


def _tar_texts(path):
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            key = _wanted(member.name)
            if key and member.isfile() and member.size <= 8_000_000:
                data = tar.extractfile(member).read()
                if b"\x00" not in data[:4096]:
                    yield key, DEBIAN_TEXTS[key], data.decode("utf-8", errors="replace")


def _diff_texts(data):
    """Added lines of the debian/changelog, NEWS and README.Debian hunks of a
    unified diff."""
    texts, key = {}, None
    for line in io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace"):
        if line.startswith("+++ "):
            key = _wanted(line[4:].split("\t")[0].strip())
            if key:
                texts.setdefault(key, [])
        elif line.startswith("--- ") or line.startswith("diff "):
            key = None
        elif key and line.startswith("+"):
            texts[key].append(line[1:])
    for key in sorted(texts):
        yield key, DEBIAN_TEXTS[key], "".join(texts[key])


def native_arch():
    """apt's native architecture (for --skip-update, where apt_update does
    not report it)."""
    dump = BUILD_DEBIAN_PKG.apt_config_dump([])
    return dump.get("APT::Architecture", [""])[0]
