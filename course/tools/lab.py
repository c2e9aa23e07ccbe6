#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lab.py: the lab's generator. The annotated reference solutions in course/solutions/<lang>/ are its
only input; it cuts them by level into the students' skeletons in course/lab/<lang>/level<N>/.

    lab.py emit --lang LANG --level N --mode skeleton|solution --out DIR
    lab.py sync [--lang LANG]    regenerate every course/lab/<lang>/level<N>/ (skeletons) from the solutions
    lab.py check [--lang LANG]   exit 1 if a committed skeleton differs from what the generator makes

Marker lines (whole lines; the generator drops them from its output):
    <opener> BEGIN LEVEL n [closer]   the solution code a student writes at level n
    <opener> ELSE LEVEL n  [closer]   (optional) the stub the student starts from; it must say TODO
    <opener> END LEVEL n   [closer]   end of a BEGIN or GIVEN block
    <opener> GIVEN LEVEL n [closer]   code handed to the student from level n on
Openers: '#' (Python, Perl), '//' and '/* ... */' (C), '(* ... *)' (OCaml). Blocks do not nest.
A line that looks like a marker but is not exactly one is an error (file:line), never kept."""
import argparse
import difflib
import os
import re
import sys
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOLUTIONS = os.path.join(ROOT, "course", "solutions")
LAB = os.path.join(ROOT, "course", "lab")
LEVELS = range(1, 7)
KEYWORDS = ("BEGIN", "ELSE", "END", "GIVEN")

# lang -> (file extension, {comment opener: required closer or ""})
LANGS: Dict[str, Tuple[str, Dict[str, str]]] = {
    "c": ("c", {"//": "", "/*": "*/"}),
    "python": ("py", {"#": ""}),
    "perl": ("pl", {"#": ""}),
    "ocaml": ("ml", {"(*": "*)"}),
}

MARKER = re.compile(r"^[ \t]*(//|/\*|\(\*|#) (BEGIN|ELSE|END|GIVEN) LEVEL ([1-6])(?: (\*/|\*\)))?[ \t]*$")
TODO_LINE = re.compile(r"\bTODO\b\W*\w+")


class LabError(ValueError):
    """An annotated file that the generator refuses: the message says file:line and why."""


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, for telling a mistyped keyword from prose."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _looks_like_marker(line: str) -> bool:
    """A comment whose first word is (near) a keyword and whose second is near LEVEL: BEGN LEVEL 3,
    BEGIN LEVLE 3, begin level 3, BEGIN LEVEL 7, #BEGIN LEVEL 3, BEGINLEVEL 3..."""
    if re.match(r"^[ \t]*(?://|/\*|\(\*|#)[ \t]*(BEGIN|ELSE|END|GIVEN)LEVEL", line, re.I):
        return True
    m = re.match(r"^[ \t]*(?://|/\*|\(\*|#)[ \t]*(\w+)[ \t]+(\w+)", line)
    if not m:
        return False
    w1, w2 = m.group(1), m.group(2)
    near_kw = any(_distance(w1.upper(), k) <= 1 for k in KEYWORDS) or w1.upper() in KEYWORDS
    near_level = _distance(re.sub(r"\d+$", "", w2.upper()), "LEVEL") <= 2
    if w1.upper() in KEYWORDS and near_level:
        return True
    # a typo in one word only, written in capitals as markers are (prose says "one level")
    return near_kw and near_level and (w1.isupper() or w2.isupper())


class Block:
    def __init__(self, kind: str, level: int, line: int) -> None:
        self.kind = kind          # "BEGIN" or "GIVEN"
        self.level = level
        self.line = line
        self.solution: List[str] = []
        self.stub: Optional[List[str]] = None
        self.else_line = 0


Piece = object  # a str (a line outside any block) or a Block


def parse(text: str, lang: str, name: str) -> List[Piece]:
    """The annotated file as plain lines and blocks; LabError on any malformed marker or block."""
    openers = LANGS[lang][1]
    pieces: List[Piece] = []
    cur: Optional[Block] = None
    for no, line in enumerate(text.splitlines(keepends=True), 1):
        bare = line.rstrip("\r\n")
        m = MARKER.match(bare)
        if m is None:
            if _looks_like_marker(bare):
                raise LabError(f"{name}:{no}: looks like a level marker but is not one: {bare.strip()!r} "
                               f"(expected e.g. {_example(lang)})")
            if cur is None:
                pieces.append(line)
            elif cur.stub is not None:
                cur.stub.append(line)
            else:
                cur.solution.append(line)
            continue
        opener, kw, level, closer = m.group(1), m.group(2), int(m.group(3)), m.group(4) or ""
        if opener not in openers:
            raise LabError(f"{name}:{no}: marker with the comment opener {opener!r}, not one of this "
                           f"language's ({', '.join(openers)})")
        if closer != openers[opener]:
            raise LabError(f"{name}:{no}: marker opened with {opener!r} must end with "
                           f"{openers[opener] or 'nothing'!r}, not {closer or 'nothing'!r}")
        if kw in ("BEGIN", "GIVEN"):
            if cur is not None:
                raise LabError(f"{name}:{no}: {kw} LEVEL {level} inside the {cur.kind} LEVEL {cur.level} "
                               f"block of line {cur.line}: blocks do not nest")
            cur = Block(kw, level, no)
        elif kw == "ELSE":
            if cur is None or cur.kind != "BEGIN":
                raise LabError(f"{name}:{no}: ELSE LEVEL {level} outside a BEGIN block")
            if cur.level != level:
                raise LabError(f"{name}:{no}: ELSE LEVEL {level} in the BEGIN LEVEL {cur.level} block of "
                               f"line {cur.line}")
            if cur.stub is not None:
                raise LabError(f"{name}:{no}: a second ELSE LEVEL {level} (first at line {cur.else_line})")
            cur.stub, cur.else_line = [], no
        else:
            if cur is None:
                raise LabError(f"{name}:{no}: END LEVEL {level} without a BEGIN or GIVEN")
            if cur.level != level:
                raise LabError(f"{name}:{no}: END LEVEL {level} closes {cur.kind} LEVEL {cur.level} of "
                               f"line {cur.line}")
            if cur.stub is not None and not any(TODO_LINE.search(s) for s in cur.stub):
                raise LabError(f"{name}:{cur.else_line}: the ELSE LEVEL {level} stub has no TODO line "
                               f"saying what to write")
            pieces.append(cur)
            cur = None
    if cur is not None:
        raise LabError(f"{name}:{cur.line}: {cur.kind} LEVEL {cur.level} is never closed (END LEVEL "
                       f"{cur.level})")
    return pieces


def _example(lang: str) -> str:
    opener, closer = next(iter(LANGS[lang][1].items()))
    return f"'{opener} BEGIN LEVEL 2{(' ' + closer) if closer else ''}'"


def cut(text: str, lang: str, level: int, mode: str, name: str = "<text>") -> str:
    """The file as a student sees it at `level`: levels before it solved, `level` solved (solution)
    or stubbed (skeleton), later levels stubbed; GIVEN blocks from their level on."""
    if mode not in ("skeleton", "solution"):
        raise LabError(f"unknown mode {mode!r}")
    out: List[str] = []
    for p in parse(text, lang, name):
        if isinstance(p, str):
            out.append(p)
        elif p.kind == "GIVEN":
            if level >= p.level:
                out.extend(p.solution)
        elif p.level < level or (p.level == level and mode == "solution"):
            out.extend(p.solution)
        else:
            out.extend(p.stub or [])
    return "".join(out)


def source_files(lang: str, level: int, solutions: str = SOLUTIONS) -> List[str]:
    """The files of course/solutions/<lang>/ that a level's folder gets: everything there (build
    files too: nothing a student needs may live only in solutions/), the client at level 1 only."""
    ext = LANGS[lang][0]
    d = os.path.join(solutions, lang)
    names = []
    for n in sorted(os.listdir(d)):
        if n.startswith(".") or n.startswith("_") or not os.path.isfile(os.path.join(d, n)):
            continue
        if n.endswith("~") or n.endswith((".o", ".cmx", ".cmi", ".cmo", ".pyc")):
            continue
        if n == f"client.{ext}" and level != 1:
            continue
        names.append(n)
    if f"server.{ext}" not in names:
        raise LabError(f"{d}: no server.{ext}")
    return names


def render(lang: str, level: int, mode: str, solutions: str = SOLUTIONS) -> Dict[str, str]:
    """name -> content of every file of that level, cut from the annotated solution."""
    ext = LANGS[lang][0]
    files = {}
    for n in source_files(lang, level, solutions):
        path = os.path.join(solutions, lang, n)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # only the language's own sources carry markers; build files are copied as they are
        files[n] = cut(text, lang, level, mode, os.path.relpath(path, ROOT)) if n.endswith("." + ext) else text
    return files


def emit(lang: str, level: int, mode: str, out: str, solutions: str = SOLUTIONS) -> List[str]:
    os.makedirs(out, exist_ok=True)
    written = []
    for n, text in render(lang, level, mode, solutions).items():
        p = os.path.join(out, n)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        src = os.path.join(solutions, lang, n)
        os.chmod(p, os.stat(src).st_mode & 0o777)
        written.append(p)
    return written


def languages(solutions: str = SOLUTIONS) -> List[str]:
    """The languages whose annotated solution exists (the others are not generated yet)."""
    return [l for l in LANGS if os.path.isfile(os.path.join(solutions, l, f"server.{LANGS[l][0]}"))]


def sync(solutions: str = SOLUTIONS, lab: str = LAB, only: Optional[List[str]] = None, verbose: bool = False) -> None:
    for lang in languages(solutions):
        if only and lang not in only:
            continue
        for level in LEVELS:
            d = os.path.join(lab, lang, f"level{level}")
            expected = render(lang, level, "skeleton", solutions)
            if os.path.isdir(d):
                for n in os.listdir(d):  # a file the solution no longer has goes too
                    if n not in expected and os.path.isfile(os.path.join(d, n)):
                        os.remove(os.path.join(d, n))
            emit(lang, level, "skeleton", d, solutions)
            if verbose:
                print(f"wrote {os.path.relpath(d, ROOT)}: {', '.join(sorted(expected))}")


def built(name: str) -> bool:
    """What building and running a level in its folder leaves there, as the texts say to do: the
    programs and the compilers' by-products are not skeleton files."""
    return (name in ("server", "client", "server.log") or name.endswith((".o", ".cmi", ".cmx", ".cmo", ".exe",
                                                                         ".pyc", "-gcc", "-clang")))


def check(solutions: str = SOLUTIONS, lab: str = LAB, only: Optional[List[str]] = None) -> List[str]:
    """The differences between the committed skeletons and the generator's, one line each."""
    problems = []
    for lang in languages(solutions):
        if only and lang not in only:
            continue
        for level in LEVELS:
            d = os.path.join(lab, lang, f"level{level}")
            expected = render(lang, level, "skeleton", solutions)
            have = set(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n)) and not built(n)) \
                if os.path.isdir(d) else set()
            rel = os.path.relpath(d, ROOT)
            for n in sorted(set(expected) - have):
                problems.append(f"{rel}/{n}: missing (run: python3 course/tools/lab.py sync)")
            for n in sorted(have - set(expected)):
                problems.append(f"{rel}/{n}: not generated from course/solutions/{lang}/")
            for n in sorted(set(expected) & have):
                with open(os.path.join(d, n), encoding="utf-8") as f:
                    got = f.read()
                if got != expected[n]:
                    diff = list(difflib.unified_diff(expected[n].splitlines(), got.splitlines(),
                                                     "generated", "committed", lineterm="", n=0))
                    problems.append(f"{rel}/{n}: differs from the generator's (edited by hand? run sync):\n  "
                                    + "\n  ".join(diff[:12]))
    return problems


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("emit", help="write one level's files into DIR")
    e.add_argument("--lang", required=True, choices=sorted(LANGS))
    e.add_argument("--level", required=True, type=int, choices=list(LEVELS))
    e.add_argument("--mode", required=True, choices=["skeleton", "solution"])
    e.add_argument("--out", required=True)
    for name, what in (("sync", "regenerate every course/lab/<lang>/level<N>/"),
                       ("check", "fail if a committed skeleton differs from the generator's")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--lang", action="append", choices=sorted(LANGS), help="only this language (repeatable)")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "emit":
            if not os.path.isfile(os.path.join(SOLUTIONS, a.lang, f"server.{LANGS[a.lang][0]}")):
                print(f"lab.py: no annotated solution course/solutions/{a.lang}/", file=sys.stderr)
                return 1
            for p in emit(a.lang, a.level, a.mode, a.out):
                print(p)
        elif a.cmd == "sync":
            sync(only=a.lang, verbose=True)
        else:
            problems = check(only=a.lang)
            for p in problems:
                print(p)
            langs = languages()
            if problems:
                return 1
            print(f"lab.py check: course/lab/ matches the generator ({', '.join(langs) or 'no solution yet'})")
    except LabError as err:
        print(f"lab.py: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
