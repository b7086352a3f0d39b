#!/usr/bin/env python3
"""A question-form probe: pydoc's dev and test queries (an entry's summary
sentence) rewritten as questions by template, with the same judgments, as
`queries.<split>-questions.jsonl` and `qrels.<split>-questions.tsv`.

    bench/quality/question_forms.py [--data data/quality]

"Return the absolute value of a number." becomes "How do I return the
absolute value of a number?"; a summary that does not open with a verb
("A subclass of ...", "Raised when ...") becomes "What is a subclass of
...?". It changes the queries' form only, not their content: a probe of
how a model takes questions, built from the Python reference, never from
question-and-answer or FAQ text (those are held out).
"""

import argparse
import json
import re
from pathlib import Path

# Openings that are not an imperative verb.
NOT_VERBS = {"a", "an", "the", "this", "these", "if", "when", "raised", "used", "same", "like",
             "deprecated", "alias", "new", "base", "abstract", "true", "false", "none", "for",
             "in", "on", "as", "an", "one", "each", "all", "some", "default", "optional"}


def question(summary: str) -> str:
    text = summary.strip().rstrip(".").strip()
    first = re.split(r"\W", text, maxsplit=1)[0].lower()
    rest = text[0].lower() + text[1:] if text else text
    if first and first not in NOT_VERBS and not first.endswith("ed") and first.isalpha():
        # "Returns x" reads "return x" after "How do I".
        verb = first[:-1] if first.endswith("s") and not first.endswith("ss") else first
        rest = verb + rest[len(first):]
        return f"How do I {rest}?"
    return f"What is {rest}?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/quality", type=Path)
    args = ap.parse_args()
    folder = args.data / "pydoc"
    for split in ("dev", "test"):
        lines = (folder / f"queries.{split}.jsonl").read_text().splitlines()
        out = [json.dumps({"id": q["id"], "text": question(q["text"])}) for q in map(json.loads, lines)]
        (folder / f"queries.{split}-questions.jsonl").write_text("\n".join(out) + "\n")
        (folder / f"qrels.{split}-questions.tsv").write_text((folder / f"qrels.{split}.tsv").read_text())
        print(f"{folder}/queries.{split}-questions.jsonl: {len(out)} questions, e.g. {json.loads(out[0])['text']!r}")


if __name__ == "__main__":
    main()
