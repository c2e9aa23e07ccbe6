#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""spdx.py [--fix] [PATH...]: every source file carries `SPDX-License-Identifier: MIT` in its first
lines (after a #! line). Without --fix, lists the files that do not and exits 1 (make test runs
this); with --fix, adds the line in the file's own comment syntax. PATHs default to every file git
tracks, plus the untracked ones not ignored."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "SPDX-License-Identifier: MIT"
# file name ending -> the comment that carries the tag
STYLES = [(".c", "/* %s */"), (".h", "/* %s */"), (".py", "# %s"), (".pl", "# %s"), (".pm", "# %s"),
          (".t", "# %s"), (".sh", "# %s"), (".mk", "# %s"), (".ml", "(* %s *)"), (".mli", "(* %s *)"),
          (".lua", "-- %s"), (".proto", "// %s"), ("Makefile", "# %s"), ("Makefile.PL", "# %s"),
          ("dune", "; %s"), ("dune-project", "; %s"), (".in", "# %s"), (".1", '.\\" %s'), (".3", '.\\" %s'),
          (".7", '.\\" %s')]
SKIP_DIRS = ("fuzz/regress/", "proto/", "build/", "_build/")


def style(path: str):
    name = os.path.basename(path)
    if path.endswith("dune-project"):
        return None  # its first form must be (lang dune ...): the tag goes on the second line
    for end, fmt in STYLES:
        if name == end or (end.startswith(".") and name.endswith(end)):
            return fmt
    if path.startswith(".ci/") or path.startswith("scripts/") and "." not in name:
        return "# %s"
    return None


def files():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if not f.startswith(SKIP_DIRS) and "/_build/" not in f and os.path.isfile(os.path.join(ROOT, f))]


def has_tag(text: str) -> bool:
    return TAG in "\n".join(text.splitlines()[:4])


def fix(path: str, fmt: str, text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = 1 if lines and (lines[0].startswith("#!") or lines[0].startswith("(lang dune")) else 0
    return "".join(lines[:at] + [fmt % TAG + "\n"] + lines[at:])


def main() -> int:
    args = sys.argv[1:]
    do_fix = "--fix" in args
    paths = [a for a in args if a != "--fix"] or files()
    missing = []
    for p in paths:
        fmt = "; %s" if p.endswith("dune-project") else style(p)
        if not fmt:
            continue
        full = os.path.join(ROOT, p)
        with open(full, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        if has_tag(text):
            continue
        if do_fix:
            with open(full, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(fix(p, fmt, text))
        else:
            missing.append(p)
    for p in missing:
        print("spdx: %s: no '%s' in its first lines (scripts/spdx.py --fix adds it)" % (p, TAG))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
