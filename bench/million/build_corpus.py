#!/usr/bin/env python3
"""Builds a real-text English corpus of 1,000,000 ~200-word documents from
Debian bookworm's archive, for an end-to-end indexing benchmark.

First a private ``apt-get update`` (bookworm and bookworm-updates, main; deb
and deb-src) into --lists, which never touches the system's apt state. Then
these sources, in this order, until --target documents are written:

1. ``description``: long package descriptions from the ``Translation-en``
   index (no download);
2. documentation packages (MEASURED_PACKAGES, then the ones select_packages
   picks by rule from the Packages index; see --list-packages): ``html`` and
   ``text`` (prose under /usr/share/doc), ``info`` (GNU info manuals under
   /usr/share/info) and ``changelog`` (changelog.Debian.gz, changelog.gz);
3. source packages, sorted by name (the newest version of each in the
   Sources index). Of each, two files are fetched: the one that holds its
   debian/ folder (the .debian.tar.* of a 3.0 (quilt) package, the .diff.gz
   of a 1.0 one, the whole source of a native one if at most 2 MB), from which
   debian/changelog and debian/NEWS (``changelog``: one paragraph per bullet,
   without entry headers and signature lines) and debian/README.Debian
   (``text``) are read; and the one of its binary packages (at most 3 MB, not
   read in step 2) with the most files that classify() accepts according to
   the Contents index, read like a documentation package (its Debian and
   upstream change logs, READMEs, HTML and info pages). The mirror may lack
   one of the two; the other is read alone.

Files are fetched with ``apt-helper download-file`` (hash-checked, several
at a time) into --cache and kept, so a rerun downloads nothing. A .deb is
read with the standard library (ar, then its data tarball), so nothing is
installed.

Man pages (anything under /usr/share/man, roff sources, and HTML or text
renderings of man pages) and FAQ / question-and-answer documents are never
included: they are held out for independent evaluation.

Each text is split into paragraphs; repeated paragraphs (navigation,
boilerplate, licences, "New upstream release.") are dropped; the rest is
packed into ~200-word chunks (never over 250, none under 30); chunks that do
not look English and exact duplicate chunks are dropped.

Output (under --out): ``corpus.jsonl`` (one {"id", "text", "source"} per line,
written as ``corpus.jsonl.partial`` and renamed when done) and ``stats.json``
(rewritten as it goes).

Usage (from the repository root):

    nice -n 19 ionice -c3 python3 bench/million/build_corpus.py \\
        [--out data/million] [--cache target/million-debs] [--target 1000000] \\
        [--lists target/million-apt/lists] [--skip-update] \\
        [--packages-limit N] [--packages a,b,c] [--sources-limit N] \\
        [--no-descriptions] [--no-doc-packages] [--no-source-packages] [--list-packages]
"""

import argparse
import gzip
import html.parser
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import debian_sources  # noqa: E402

# Documentation packages measured in a pilot run (documents per downloaded MB
# and per CPU second, see README.md), used first.
MEASURED_PACKAGES = [
    "linux-doc-6.1", "openjdk-17-doc", "racket-doc", "python3.11-doc",
    "erlang-doc", "postgresql-doc-15",
]
# The rest is chosen by rule from the apt lists (select_packages): packages
# named like documentation, mostly text (installed >= 3x download), at least
# 2 MB installed, at most 150 MB to download, newest of each versioned family,
# without these families (generated API references that yield little prose for
# their size, other languages, PDF-only TeX documentation, huge image sets).
EXCLUDED_FAMILIES = re.compile(
    r"^(libghc-|ghc-|rust-|cargo-|scala-|texlive-|libreoffice-|lilypond-doc-html-|"
    r"castle-game-engine|fp-docs|lazarus-doc|agda|gnucash-docs|sumo-|vtk|qgis|trilinos)"
    r"|-(help|l10n|examples|data|src|dbgsym)(-|$)"
    r"|-(de|fr|es|it|ja|ru|zh|pt|pl|nl|cs|hu|ca|ko|zh-cn|zh-tw)$")
DOC_NAME_ENDINGS = ("-doc", "-docs", "-doc-html", "-manual", "-handbook")
MAX_DEB_BYTES = 150_000_000
MIN_INSTALLED_BYTES = 2_000_000
DEB_WORKERS, DEBS_AHEAD = 2, 6  # downloads of documentation packages
SOURCE_WORKERS, SOURCE_JOBS_AHEAD = 8, 24  # of source packages' packaging files
MAX_NATIVE_BYTES = 2_000_000  # native source packages larger than this are skipped
MAX_BINARY_BYTES = 3_000_000  # the largest binary package read for a source package
STATS_SECONDS = 10.0

TARGET_WORDS = 200
MAX_WORDS = 250
MIN_WORDS = 30
MAX_FILE_BYTES = 8_000_000  # larger files are generated listings, not prose
PROGRESS_SECONDS = 5.0

STOPWORDS = frozenset(
    "the of and to a in is it that for as with be on by this are or an not "
    "from at which can you if but all will has have was its these their "
    "there they one when also more other than may used use only into should "
    "each any so such how we no must been would then what".split())

TEXT_SUFFIXES = (".txt", ".rst", ".md", ".markdown", ".text", ".asciidoc", ".adoc")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
# Source code rendered as HTML (rustdoc src/, doxygen *_source.html).
SOURCE_HTML = re.compile(r"(\.(rs|c|h|cc|cpp|hpp|py|java|js|go)\.html?|_source\.html?)(\.gz)?$")
# Roff sources and their HTML renderings (foo.1.html, foo.3pm.html).
ROFF_NAME = re.compile(r"((?<![0-9])\.[0-9][a-z]*|\.(man|roff|mdoc|ms|me|pod))(\.html?)?(\.gz)?$")
ROFF_TEXT = re.compile(r"^(\.(TH|SH|Dd|Dt|Nm)\b|\.\\\"|'\\\")", re.M)
# A heading line: optional numbering and a few marks, the heading, marks.
# (Bounded and single-line, so a long run of digits and blanks, such as a
# data file, costs linear time.)
HEADING_START = r"^[^\S\n]*(?:[\d.]+[^\S\n]*)?[^\w\s]{0,4}[^\S\n]*"
MAN_NAME_HEADING = re.compile(HEADING_START + r"(NAME|Name)[^\w\n]*$", re.M)
MAN_SYNOPSIS_HEADING = re.compile(HEADING_START + r"(SYNOPSIS|Synopsis)[^\w\n]*$", re.M)
MAN_TITLE = re.compile(r"\b[\w.+-]+\(\d[a-z]*\)")
# The header line of a rendered man page: "ls(1)   User Commands   ls(1)".
MAN_HEADER_LINE = re.compile(r"^[^\S\n]*([\w.+:-]+)\(\d\w*\)\s.*\1\(\d\w*\)[^\S\n]*$", re.M)
MAN_DESCRIPTION_HEADING = re.compile(HEADING_START + r"DESCRIPTION[^\w\n]*$", re.M)
# A man page (or its roff / POD source) quoted inside a longer text, checked
# on each chunk: roff requests or font escapes, NAME and SYNOPSIS headings,
# POD commands.
MAN_CHUNK_MARKS = [
    (re.compile(r"(?:^|\s)\.(?:TH|SH|SS|TP|PP|IP|LP|BR|BI|IR|RB|RI|nf|fi|sp|br|in)\b"), 2),
    (re.compile(r"\\f[BIRP]"), 2),
    (re.compile(r"\bNAME\b.{0,400}?\bSYNOPSIS\b|\bSYNOPSIS\b.{0,1500}?\bDESCRIPTION\b",
                re.S), 1),
    (re.compile(r"(?:^|\s)=(?:head\d|over|item|back|pod|cut)\b"), 2),
]
MAN_FILE_NAME = re.compile(r"(^|[-_.])(man|manpages?|man-pages?|refentry)([-_.]|$)")
FAQ_PATH = re.compile(r"faq|q&a|qanda|question")
FAQ_TITLE = re.compile(r"faq|frequently asked|q\s*&\s*a\b|questions and answers", re.I)
FAQ_TEXT = re.compile(r"\bFAQs?\b|frequently asked|questions and answers", re.I)
QA_SECTION = re.compile(r"\bQuestions?\s*(&|and)\s*Answers?\b|\bQ\s*&\s*A\b", re.I)
QA_QUESTION = re.compile(r"(?:^|\s)(Q\d*:|Q\d+[.)])\s")
QA_ANSWER = re.compile(r"(?:^|\s)(A\d*:|A\d+[.)])\s")
FAQ_HEADING = re.compile(HEADING_START + r"(FAQs?\b|Frequently Asked Questions)[^\n]{0,60}$",
                         re.M | re.I)
FAQ_MENTION = re.compile(r"\bFAQs?\b|frequently asked", re.I)
QA_LINE = re.compile(r"^[^\S\n]*(Q|A|Question|Answer)[^\S\n]*\d*[^\S\n]*[:.)]\s", re.M)
GENERATED_API = re.compile(r'content="(Doxygen|rustdoc)|haddock-util', re.I)
# DocBook reference entries are the man pages of their manuals.
DOCBOOK_REFENTRY = re.compile(r'class="(refentry|refnamediv|refsynopsisdiv)"')
CODE_BLOCKS = re.compile(r"<(pre|script|style|svg|math|nav)\b.*?</\1\s*>", re.S | re.I)
MAIN_CONTENT = re.compile(r"<main\b|role=\"main\"", re.I)
TITLE = re.compile(r"<title>.*?</title>", re.S | re.I)
RST_MARKUP = re.compile(r":[a-z:]+:(?=`)|``|`_*|\*\*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
NOT_LETTERS = re.compile(r"[^A-Za-z]+")
NOT_ALNUM = re.compile(r"[\W_]+")
RULE_LINE = re.compile(r"^\s*([=\-~^*#+_.`:'\"]\s*){3,}$")
CHANGELOG_HEADER = re.compile(r"^(\S.*;\s*urgency=|\s*-- .*<.*>|\d{4}-\d\d-\d\d\s|\s*\[ .* \]\s*$"
                              r"|(Local variables|mode|End|vim?|Old Changelog)\s*:)", re.I)
CHANGELOG_BULLET = re.compile(r"^\s*([*+\-]|\d{1,2}[.)])\s+")
INFO_NOISE = re.compile(r"^(File: .*Node: |Tag Table:|End Tag Table|Local Variables:|\* Menu:|\*\s.*::)")


# ------------------------------------------------------------ package index

def select_packages(index):
    """The documentation packages to use, best expected yield first."""
    newest = {}
    for name, record in index.items():
        if name in MEASURED_PACKAGES or not is_candidate(record):
            continue
        family = re.sub(r"[0-9.]+", "#", name)
        if family not in newest or natural_key(name) > natural_key(newest[family]["Package"]):
            newest[family] = record
    rest = sorted(newest.values(),
                  key=lambda r: (candidate_tier(r["Package"]), -int(r.get("Installed-Size", 0))))
    return [index[n] for n in MEASURED_PACKAGES if n in index] + rest


def is_candidate(record):
    name, section = record["Package"], record.get("Section", "")
    size = int(record.get("Size", 0))
    installed = int(record.get("Installed-Size", 0)) * 1024
    return ((section.endswith("doc") or name.endswith(DOC_NAME_ENDINGS))
            and not EXCLUDED_FAMILIES.search(name)
            and installed >= max(MIN_INSTALLED_BYTES, 3 * size) and size <= MAX_DEB_BYTES)


def candidate_tier(name):
    """Sphinx-built Python manuals, then other manuals, then Javadoc, then C/C++
    library references (often Doxygen, skipped page by page)."""
    if name.startswith(("python-", "python3-")):
        return 0
    if name.endswith("-java-doc") or "api" in name:
        return 2
    return 3 if name.startswith("lib") or "-dev-doc" in name else 1


def natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_translations(lists_dir):
    """(package, long description) from the Translation-en index files."""
    seen_md5 = set()
    for path in debian_sources.index_files(lists_dir, "_Translation-en"):
        for record in debian_sources.stanzas(path):
            package, md5 = record.get("Package"), record.get("Description-md5")
            body = record.get("Description-en", "")
            if not (package and md5 and "\n" in body) or md5 in seen_md5:
                continue
            seen_md5.add(md5)
            yield package, body


def description_paragraphs(text):
    """Paragraphs of a Debian long description (continuation-line format)."""
    lines = text.split("\n")[1:]  # the first line is the synopsis
    paragraphs, current = [], []
    for line in lines:
        line = line[1:] if line.startswith(" ") else line
        if line.strip() == ".":
            paragraphs.append(" ".join(current))
            current = []
        else:
            current.append(line.strip())
    paragraphs.append(" ".join(current))
    return paragraphs


# ------------------------------------------------------------ downloading

def deb_job(cache, record):
    """The download of one package's .deb (a list of one (uri, path, sha256))."""
    path = cache / record["Filename"].rsplit("/", 1)[-1]
    return [(f"{debian_sources.MIRROR}/{record['Filename']}", str(path), record["SHA256"])]


def deb_files(deb):
    """(path, bytes) of the regular files in a .deb that may hold prose."""
    return debian_sources.deb_members(deb, classify, MAX_FILE_BYTES)


# ------------------------------------------------------------ classifying

def classify(path):
    """Source kind of a file by its path, or None to skip it."""
    lower = path.lower()
    name = lower.rsplit("/", 1)[-1]
    if lower.startswith("usr/share/man/") or "/man/" in lower or FAQ_PATH.search(lower):
        return None
    if lower.startswith("usr/share/info/") and ".info" in name:
        return "info"
    if not lower.startswith("usr/share/doc/") or ROFF_NAME.search(name):
        return None
    if "/_sources/" in lower or SOURCE_HTML.search(name):  # copies of other pages
        return None
    if MAN_FILE_NAME.search(name):  # e.g. foo-man.txt, manpage.html
        return None
    if name.startswith("changelog"):
        return "changelog"
    if is_html(name):
        return "html"
    bare = name[:-3] if name.endswith(".gz") else name
    if bare.endswith(TEXT_SUFFIXES) or bare.startswith(("readme", "news")):
        return "text"
    return None


def is_html(path):
    return path.lower().removesuffix(".gz").endswith(HTML_SUFFIXES)


def is_held_out(text, title=""):
    """Man pages and FAQ / Q&A documents, which must never be included."""
    head = text[:5000]
    if ROFF_TEXT.search(head) or MAN_TITLE.search(title) or MAN_HEADER_LINE.search(head):
        return True
    if MAN_NAME_HEADING.search(head) and (MAN_SYNOPSIS_HEADING.search(head)
                                          or MAN_DESCRIPTION_HEADING.search(head)):
        return True
    if MAN_SYNOPSIS_HEADING.search(head[:1500]) or "=head1 NAME" in head:
        return True
    if "linkgit:" in head:  # AsciiDoc source of git's man pages
        return True
    if FAQ_TITLE.search(title) or FAQ_TEXT.search(text[:1000]) or QA_SECTION.search(text):
        return True
    if FAQ_HEADING.search(text):  # an FAQ section inside a longer page
        return True
    questions = len(QA_QUESTION.findall(text))
    if questions >= 2 or (questions and QA_ANSWER.search(text)):
        return True
    return len(QA_LINE.findall(text)) >= 3


# ------------------------------------------------------------ text extraction

class HtmlText(html.parser.HTMLParser):
    """Paragraphs and title of an HTML page, without code and navigation."""

    SKIP_TAGS = {"script", "style", "pre", "nav", "noscript", "svg", "math",
                 "button", "select", "textarea", "header", "footer"}
    SKIP_CLASSES = ("sidebar", "related", "navheader", "navfooter", "breadcrumb",
                    "navbar", "toc", "footer", "header", "menu", "search")
    BLOCK_TAGS = {"p", "div", "li", "br", "tr", "td", "th", "dt", "dd", "h1", "h2",
                  "h3", "h4", "h5", "h6", "blockquote", "section", "article", "table",
                  "ul", "ol", "dl", "hr", "caption", "figcaption", "summary"}
    VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col",
                 "embed", "source", "track", "wbr", "param"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self.current, self.title = [], [], ""
        self.skip_tag, self.skip_depth, self.in_title = None, 0, False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        if self.skip_tag:
            self.skip_depth += tag == self.skip_tag
        elif tag not in self.VOID_TAGS and self._is_skipped(tag, dict(attrs)):
            self.skip_tag, self.skip_depth = tag, 1
        elif tag in self.BLOCK_TAGS:
            self._break()

    def _is_skipped(self, tag, attrs):
        classes = (attrs.get("class") or "").lower()
        return (tag in self.SKIP_TAGS or attrs.get("role") == "navigation"
                or any(word in classes for word in self.SKIP_CLASSES))

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if self.skip_tag:
            self.skip_depth -= tag == self.skip_tag
            if self.skip_depth <= 0:
                self.skip_tag = None
        elif tag in self.BLOCK_TAGS:
            self._break()

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.skip_tag:
            self.current.append(data)

    def _break(self):
        if self.current:
            self.paragraphs.append("".join(self.current))
            self.current = []

    def result(self):
        self._break()
        return self.paragraphs, self.title


def html_paragraphs(text):
    # Cut code listings and scripts out first: html.parser's cost is per tag,
    # and highlighted code has one tag per token.
    # Likewise skip what comes before the main content (headers, sidebars)
    # and navigation blocks, which often list every page of the manual.
    main = MAIN_CONTENT.search(text)
    if main:
        title = TITLE.search(text, 0, main.start())
        text = (title.group(0) if title else "") + text[text.rfind("<", 0, main.start() + 1):]
    text = CODE_BLOCKS.sub("<br>", text)
    parser = HtmlText()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # badly broken markup: keep what we have
        pass
    paragraphs, title = parser.result()
    return paragraphs, " ".join(title.split())


def blank_line_paragraphs(lines):
    """Paragraphs separated by blank lines, markup rules and headings dropped."""
    paragraphs, current = [], []
    for line in lines:
        if not line.strip() or RULE_LINE.match(line):
            if current:
                paragraphs.append(" ".join(current))
            current = []
        else:
            current.append(line.strip().lstrip("#*").strip())
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def file_paragraphs(kind, path, text):
    """Paragraphs of one file, or None when it is held out."""
    if is_html(path):
        if GENERATED_API.search(text[:4000]) or DOCBOOK_REFENTRY.search(text[:50000]):
            return None
        paragraphs, title = html_paragraphs(text)
        held_out = is_held_out("\n".join(paragraphs), title)
        return None if held_out else paragraphs
    if kind != "changelog" and is_held_out(text):
        return None
    lines = text.split("\n")
    if kind == "changelog":
        return None if ROFF_TEXT.search(text[:5000]) else changelog_paragraphs(lines)
    if kind == "info":
        lines = [line.replace("\x1f", "") for line in lines if not INFO_NOISE.match(line)]
    else:  # reStructuredText / Markdown: drop directives, keep the words of roles
        lines = [RST_MARKUP.sub("", line) for line in lines if not line.startswith(".. ")]
    return blank_line_paragraphs(lines)


def changelog_paragraphs(lines):
    """One paragraph per bullet of a change log (a bullet's wrapped lines
    joined); entry headers ("pkg (1.0-1) unstable; urgency=low"), signature
    lines (" -- Name <mail>  date"), "[ Name ]" lines and editor settings are
    left out and end a paragraph."""
    paragraphs, current = [], []
    for line in lines:
        header = CHANGELOG_HEADER.match(line)
        if header or not line.strip() or RULE_LINE.match(line) or CHANGELOG_BULLET.match(line):
            if current:
                paragraphs.append(" ".join(current))
            current = []
            if header or not line.strip() or RULE_LINE.match(line):
                continue
            line = CHANGELOG_BULLET.sub("", line)
        current.append(line.strip())
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def decode(path, data):
    if path.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    if b"\x00" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


# ------------------------------------------------------------ chunking

def split_long(words):
    """Pieces of at most ~TARGET_WORDS words, at sentence ends where possible."""
    pieces, current = [], []
    for sentence in SENTENCE_END.split(" ".join(words)):
        sentence_words = sentence.split()
        if current and len(current) + len(sentence_words) > TARGET_WORDS:
            pieces.append(current)
            current = []
        current.extend(sentence_words)
        while len(current) > MAX_WORDS:
            pieces.append(current[:TARGET_WORDS])
            current = current[TARGET_WORDS:]
    if current:
        pieces.append(current)
    return pieces


def chunks(paragraphs):
    """Word lists of ~TARGET_WORDS, packing whole paragraphs where they fit."""
    buffer = []
    for paragraph in paragraphs:
        words = paragraph.split()
        if len(words) > MAX_WORDS:
            if buffer:
                yield buffer
            buffer = []
            yield from split_long(words)
            continue
        if len(buffer) + len(words) > MAX_WORDS:
            yield buffer
            buffer = []
        buffer.extend(words)
        if len(buffer) >= TARGET_WORDS:
            yield buffer
            buffer = []
    if buffer:
        yield buffer


def quotes_man_page(text):
    """A chunk that holds (part of) a man page or its source."""
    return any(len(pattern.findall(text)) >= times for pattern, times in MAN_CHUNK_MARKS)


def looks_english(words, text):
    """Cheap test: mostly ASCII letters, and enough common English words."""
    letters = len(NOT_LETTERS.sub("", text))
    if letters < 0.7 * (len(text) - len(words) + 1):
        return False
    common = sum(word.lower() in STOPWORDS for word in words)
    return common >= 0.12 * len(words)


# ------------------------------------------------------------ the corpus writer

class CorpusWriter:
    """Streams deduplicated chunks to corpus.jsonl.partial and keeps stats."""

    def __init__(self, out_dir, target):
        self.partial = out_dir / "corpus.jsonl.partial"
        self.final = out_dir / "corpus.jsonl"
        self.handle = open(self.partial, "w", encoding="utf-8")
        self.target = target
        self.seen_paragraphs, self.seen_chunks = set(), set()
        self.documents = self.words = self.held_out_chunks = 0
        self.by_kind, self.by_package = {}, {}
        self.started = time.monotonic()
        self.last_progress = 0.0
        self.current = ""

    def full(self):
        return self.documents >= self.target

    def add_text(self, package, path, kind, paragraphs):
        """Writes the chunks of one source text; returns documents written."""
        fresh = []
        for paragraph in paragraphs:
            paragraph = " ".join(paragraph.split())
            # Letters and digits only, so that the reStructuredText and the HTML
            # of the same paragraph (linux-doc ships both) count as one.
            # Change logs: letters only, so "New upstream version 2.7" counts once.
            strip = NOT_LETTERS if kind == "changelog" else NOT_ALNUM
            key = hash(strip.sub("", paragraph).lower())
            if FAQ_MENTION.search(paragraph) or QA_SECTION.search(paragraph):
                # may quote an FAQ's questions
                continue
            if paragraph and key not in self.seen_paragraphs:
                self.seen_paragraphs.add(key)
                fresh.append(paragraph)
        written = 0
        for number, words in enumerate(chunks(fresh)):
            if self.full():
                break
            written += self._write(f"{package}/{path}#{number}", kind, package, words)
        return written

    def _write(self, doc_id, kind, package, words):
        # Paths may hold spaces; ids may not (TREC runs split on whitespace).
        doc_id = re.sub(r"\s", lambda m: f"%{ord(m.group()):02X}", doc_id)
        if len(words) < MIN_WORDS:
            return 0
        text = " ".join(words)
        key = hash(text)
        if key in self.seen_chunks or not looks_english(words, text):
            return 0
        if quotes_man_page(text):
            self.held_out_chunks += 1
            return 0
        self.seen_chunks.add(key)
        self.handle.write(json.dumps({"id": doc_id, "text": text, "source": kind},
                                     ensure_ascii=False) + "\n")
        self.documents += 1
        self.words += len(words)
        for table, name in ((self.by_kind, kind), (self.by_package, package)):
            entry = table.setdefault(name, {"documents": 0, "words": 0})
            entry["documents"] += 1
            entry["words"] += len(words)
        self.progress()
        return 1

    def progress(self, force=False):
        now = time.monotonic()
        if not force and now - self.last_progress < PROGRESS_SECONDS:
            return
        self.last_progress = now
        elapsed = now - self.started
        rate = self.documents / elapsed if elapsed else 0
        eta = (self.target - self.documents) / rate / 60 if rate else float("nan")
        print(f"[{elapsed / 60:6.1f} min] {self.documents:,}/{self.target:,} documents "
              f"({rate:,.0f}/s, ETA {eta:.0f} min at this rate) - {self.current}",
              file=sys.stderr, flush=True)

    def close(self, rename):
        self.handle.close()
        if rename:
            os.replace(self.partial, self.final)


# ------------------------------------------------------------ the run

def add_descriptions(writer, lists_dir, stats):
    writer.current = "package descriptions"
    for package, text in read_translations(lists_dir):
        if writer.full():
            break
        if FAQ_PATH.search(package) or is_held_out(text):  # e.g. debian-faq
            continue
        writer.add_text(package, "description", "description",
                        description_paragraphs(text))


def add_package(writer, package, deb):
    """Writes the chunks of every usable file of one .deb; returns the number
    of files used. Plain-text files come last and are skipped when an HTML
    page of the same name exists (linux-doc and git-doc ship both)."""
    files, text_files, html_stems = 0, [], set()
    for path, data in deb_files(deb):
        kind = classify(path)
        if kind == "html":
            html_stems.add(stem(path))
        if kind == "text":
            text_files.append((path, data))
        else:
            files += add_file(writer, package, path, kind, data)
    for path, data in text_files:
        if stem(path) not in html_stems:
            files += add_file(writer, package, path, "text", data)
    return files


def add_file(writer, package, path, kind, data):
    if writer.full():
        return 0
    text = decode(path, data)
    paragraphs = file_paragraphs(kind, path, text) if text else None
    if paragraphs:
        writer.add_text(package, path, kind, paragraphs)
    return 1 if paragraphs else 0


def stem(path):
    return path.rsplit("/", 1)[-1].split(".", 1)[0]


def package_records(index, names):
    records = []
    for name in names:
        if name in index:
            records.append(index[name])
        else:
            print(f"warning: {name} is not in the Packages index, skipped", file=sys.stderr)
    return records


def add_packages(writer, records, cache, stats):
    """Reads each documentation package until full, with the next ones
    downloading in the background."""
    jobs = [deb_job(cache, record) for record in records]
    downloads = debian_sources.prefetch(jobs, DEB_WORKERS, DEBS_AHEAD)
    try:
        for n, (job, fetched, failed) in enumerate(downloads):
            if writer.full():
                break
            stats["bytes_downloaded"] += fetched
            package = records[n]["Package"]
            if failed:
                print(f"warning: could not download {package}, skipped", file=sys.stderr)
                stats["packages_failed"].append(package)
                continue
            add_one_package(writer, package, Path(job[0][1]), stats,
                            f"package {n + 1}/{len(records)}")
    finally:
        downloads.close()


def add_one_package(writer, package, deb, stats, position):
    stats["deb_bytes_used"] += deb.stat().st_size
    writer.current = f"{position} {package}"
    before, started = writer.documents, time.monotonic()
    files = add_package(writer, package, deb)
    stats["packages"].append({
        "package": package, "deb_bytes": deb.stat().st_size,
        "files": files, "documents": writer.documents - before,
        "seconds": round(time.monotonic() - started, 1)})
    writer.progress(force=True)
    write_stats(writer, stats, complete=False)


def source_binaries(index, records, lists_dir, arch, cache, stats):
    """{source package: its binary package to read}: the one (at most
    MAX_BINARY_BYTES, not a documentation package of step 2) with the most
    files that classify() accepts in the Contents index (the smaller on a
    tie); none if no binary package has such files."""
    counts, fetched = debian_sources.contents_counts(lists_dir, arch, cache / "contents",
                                                     classify)
    stats["bytes_downloaded"] += fetched
    skip = {record["Package"] for record in records}
    return debian_sources.best_binaries(
        index, lambda r: (int(r["Size"]) <= MAX_BINARY_BYTES and r["Package"] not in skip
                          and counts.get(r["Package"], 0) > 0),
        lambda r: counts.get(r["Package"], 0))


def source_selection(sources, binaries):
    """(source package, [items]) of each source package to read, sorted by
    name, and the number left out. The items, (uri, path under the cache,
    sha256), are its packaging file and its binary package from
    source_binaries()."""
    selected, left_out = [], 0
    for name in sorted(sources):
        record, items = sources[name], []
        found = debian_sources.packaging_file(record, MAX_NATIVE_BYTES)
        if found:
            items.append((f"{debian_sources.MIRROR}/{record['Directory']}/{found[0]}",
                          f"source/{found[0]}", found[2]))
        deb = binaries.get(name)
        if deb:
            items.append((f"{debian_sources.MIRROR}/{deb['Filename']}",
                          f"binary/{deb['Filename'].rsplit('/', 1)[-1]}", deb["SHA256"]))
        if items and not FAQ_PATH.search(name):
            selected.append((name, items))
        else:
            left_out += 1
    return selected, left_out


def add_source_packages(writer, sources, binaries, cache, stats, limit=None):
    """Reads each source package (sorted by name) until full: debian/changelog,
    NEWS and README.Debian from its packaging file, then every usable file
    of its binary package from source_binaries() (change logs, READMEs, HTML
    and info pages, as for documentation packages). Downloads run ahead in
    SOURCE_WORKERS threads, a batch of files per apt-helper call."""
    selected, left_out = source_selection(sources, binaries)
    selected = selected[:limit]
    info = stats["source_packages"] = {
        "in_index": len(sources), "left_out": left_out, "selected": len(selected),
        "packaging_files_read": 0, "binary_packages_read": 0, "with_documents": 0,
        "not_fetched": 0, "not_fetched_first": [], "bytes_used": 0}
    jobs, job = [], []
    for name, items in selected:
        job.append((name, [(uri, str(cache / path), sha) for uri, path, sha in items]))
        if sum(len(entry[1]) for entry in job) >= debian_sources.FILES_PER_CALL:
            jobs.append(job)
            job = []
    jobs += [job] if job else []
    fetch = lambda job: debian_sources.download([item for _, items in job for item in items])
    downloads = debian_sources.prefetch(jobs, SOURCE_WORKERS, SOURCE_JOBS_AHEAD, fetch)
    number = 0
    try:
        for job, fetched, _ in downloads:
            if writer.full():
                break
            stats["bytes_downloaded"] += fetched
            for name, items in job:
                number += 1
                if writer.full():
                    break
                writer.current = f"source package {number}/{len(selected)} {name}"
                before = writer.documents
                paths = [Path(item[1]) for item in items if Path(item[1]).exists()]
                if not paths:
                    info["not_fetched"] += 1
                    if len(info["not_fetched_first"]) < 20:
                        info["not_fetched_first"].append(name)
                for path in paths:
                    info["bytes_used"] += path.stat().st_size
                    if path.suffix == ".deb":
                        info["binary_packages_read"] += 1
                        add_package(writer, path.name.split("_", 1)[0], path)
                        continue
                    info["packaging_files_read"] += 1
                    for inner, kind, text in debian_sources.packaging_texts(path):
                        paragraphs = file_paragraphs(kind, inner, text)
                        if paragraphs:
                            writer.add_text(f"src:{name}", inner, kind, paragraphs)
                info["with_documents"] += writer.documents > before
            write_stats(writer, stats, complete=False, force=False)
    finally:
        downloads.close()


def run_stage(name, function, writer, stats, *args, **kwargs):
    """Runs one source of documents and records its documents and time."""
    before, started = writer.documents, time.monotonic()
    fetched_before = stats["bytes_downloaded"]
    try:
        function(writer, *args, stats, **kwargs)
    finally:
        stats["stages"][name] = {
            "documents": writer.documents - before,
            "seconds": round(time.monotonic() - started, 1),
            "bytes_downloaded": stats["bytes_downloaded"] - fetched_before}
        writer.progress(force=True)
        write_stats(writer, stats, complete=False)


def write_stats(writer, stats, complete, force=True):
    """stats.json beside the corpus (rewritten as the run goes, so that a
    stopped run still tells how far it got)."""
    now = time.monotonic()
    if not force and now - stats.get("_written", 0) < STATS_SECONDS:
        return
    stats["_written"] = now
    stats.update({
        "complete": complete, "target": writer.target,
        "documents": writer.documents, "words": writer.words,
        "held_out_chunks": writer.held_out_chunks,
        "seconds": round(now - writer.started, 1),
        "by_source_kind": writer.by_kind,
        "by_package": dict(sorted(writer.by_package.items(),
                                  key=lambda item: -item[1]["documents"])),
    })
    shown = {key: value for key, value in stats.items() if not key.startswith("_")}
    (writer.final.parent / "stats.json").write_text(json.dumps(shown, indent=1) + "\n")


def list_packages(records):
    total = 0
    for record in records:
        total += int(record["Size"])
        print(f"{record['Package']:40} {int(record['Size']) / 1e6:9.1f} MB download "
              f"{int(record.get('Installed-Size', 0)) / 1e3:9.1f} MB installed "
              f"{total / 1e9:7.2f} GB so far")


def list_sources(sources, binaries):
    selected, left_out = source_selection(sources, binaries)
    sizes = {f[0]: f[1] for record in sources.values() for f in record["files"]}
    sizes.update((r["Filename"].rsplit("/", 1)[-1], int(r["Size"])) for r in binaries.values())
    packaging = binary = 0
    for _, items in selected:
        for _, path, _ in items:
            size = sizes.get(path.rsplit("/", 1)[-1], 0)
            if path.endswith(".deb"):
                binary += size
            else:
                packaging += size
    print(f"source packages: {len(selected):,} to read ({packaging / 1e9:.2f} GB of packaging "
          f"files, {binary / 1e9:.2f} GB of binary packages), {left_out:,} left out")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/million"))
    parser.add_argument("--cache", type=Path, default=Path("target/million-debs"))
    parser.add_argument("--lists", type=Path, default=Path("target/million-apt/lists"),
                        help="private apt lists folder")
    parser.add_argument("--skip-update", action="store_true",
                        help="reuse the lists in --lists instead of running apt-get update")
    parser.add_argument("--target", type=int, default=1_000_000)
    parser.add_argument("--packages-limit", type=int, default=None,
                        help="use only the first N documentation packages")
    parser.add_argument("--packages", default=None,
                        help="comma-separated packages to use instead of the selected ones")
    parser.add_argument("--sources-limit", type=int, default=None,
                        help="use only the first N source packages")
    parser.add_argument("--no-descriptions", action="store_true",
                        help="skip the package descriptions (for measuring packages)")
    parser.add_argument("--no-doc-packages", action="store_true",
                        help="skip the documentation packages")
    parser.add_argument("--no-source-packages", action="store_true",
                        help="skip the source packages")
    parser.add_argument("--list-packages", action="store_true",
                        help="print the packages that would be used, with sizes, and exit")
    return parser.parse_args()


def main():
    args = parse_args()
    lists_dir = args.lists.resolve()
    if args.skip_update:
        if not lists_dir.is_dir():
            sys.exit(f"--skip-update: {lists_dir} does not exist; run once without it")
        arch = debian_sources.native_arch()
    else:
        arch = debian_sources.update_lists(lists_dir)
    index = debian_sources.read_packages(lists_dir, arch)
    if args.packages:
        records = package_records(index, args.packages.split(","))
    else:
        records = select_packages(index)
    records = records[:args.packages_limit]
    sources = debian_sources.read_sources(lists_dir)
    if args.list_packages:
        list_packages(records)
        list_sources(sources, source_binaries(index, records, lists_dir, arch,
                                              args.cache.resolve(), {"bytes_downloaded": 0}))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.cache.resolve()
    for folder in ("source", "binary", "contents"):
        (cache / folder).mkdir(parents=True, exist_ok=True)
    writer = CorpusWriter(args.out, args.target)
    stats = {"bytes_downloaded": 0, "deb_bytes_used": 0, "stages": {},
             "packages": [], "packages_failed": []}
    # A stop (Ctrl-C, kill) keeps corpus.jsonl.partial and writes the stats.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if not args.no_descriptions:
            run_stage("description", add_descriptions, writer, stats, lists_dir)
        if not args.no_doc_packages:
            run_stage("doc_packages", add_packages, writer, stats, records, cache)
        if not args.no_source_packages:
            binaries = source_binaries(index, records, lists_dir, arch, cache, stats)
            run_stage("source_packages", add_source_packages, writer, stats, sources,
                      binaries, cache, limit=args.sources_limit)
    except KeyboardInterrupt:
        writer.close(rename=False)
        write_stats(writer, stats, complete=False)
        sys.exit("stopped: corpus.jsonl.partial and stats.json hold what was written")
    writer.progress(force=True)
    writer.close(rename=True)
    write_stats(writer, stats, complete=writer.full())
    print(f"wrote {writer.documents:,} documents, {writer.words:,} words to "
          f"{writer.final}", file=sys.stderr)


if __name__ == "__main__":
    main()
