#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The generator's own tests (course/tools/lab.py): a made-up annotated file in each comment syntax,
cut at every level in both modes; every malformed marker or block must be refused with file:line."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402

# One template, written in each language's comment syntax: {o} opener, {c} closer (with its space).
TEMPLATE = """\
{o} SPDX-License-Identifier: MIT{c}
top
{o} GIVEN LEVEL 3{c}
given3
{o} END LEVEL 3{c}
{o} BEGIN LEVEL 1{c}
sol1
{o} ELSE LEVEL 1{c}
stub1 {o} TODO: write level 1{c}
{o} END LEVEL 1{c}
  {o} BEGIN LEVEL 2{c}
  sol2a
  sol2b
  {o} END LEVEL 2{c}
{o} BEGIN LEVEL 4{c}
sol4
{o} ELSE LEVEL 4{c}
stub4 {o} TODO answer STATS{c}
{o} END LEVEL 4{c}
{o} BEGIN LEVEL 6{c}
sol6
{o} ELSE LEVEL 6{c}
{o} TODO: serve UDP{c}
{o} END LEVEL 6{c}
bottom
"""
SYNTAXES = [("c", "//", ""), ("c", "/*", " */"), ("python", "#", ""), ("perl", "#", ""), ("ocaml", "(*", " *)")]


def annotated(o: str, c: str) -> str:
    return TEMPLATE.format(o=o, c=c)


def expected(level: int, mode: str, o: str, c: str) -> str:
    """What the design says the cut must be, written out independently of lab.py's code."""
    def solved(n: int) -> bool:
        return n < level or (n == level and mode == "solution")
    out = [f"{o} SPDX-License-Identifier: MIT{c}", "top"]
    if level >= 3:
        out.append("given3")
    out.append("sol1" if solved(1) else f"stub1 {o} TODO: write level 1{c}")
    if solved(2):
        out += ["  sol2a", "  sol2b"]
    out.append("sol4" if solved(4) else f"stub4 {o} TODO answer STATS{c}")
    out.append("sol6" if solved(6) else f"{o} TODO: serve UDP{c}")
    out.append("bottom")
    return "\n".join(out) + "\n"


class Cut(unittest.TestCase):
    def test_every_syntax_level_and_mode(self) -> None:
        for lang, o, c in SYNTAXES:
            for level in lab.LEVELS:
                for mode in ("skeleton", "solution"):
                    with self.subTest(lang=lang, opener=o, level=level, mode=mode):
                        got = lab.cut(annotated(o, c), lang, level, mode, "t")
                        self.assertEqual(got, expected(level, mode, o, c))
                        self.assertNotIn("LEVEL", got)  # every marker line dropped

    def test_skeleton_l_is_solution_l_minus_1_plus_its_stubs(self) -> None:
        text = annotated("#", "")
        for level in range(2, 7):
            sk = lab.cut(text, "python", level, "skeleton")
            prev = lab.cut(text, "python", level - 1, "solution")
            # the GIVEN block of level 3 is the only difference, at level 3
            self.assertEqual(sk.replace("given3\n", ""), prev.replace("given3\n", ""))
            self.assertEqual(sk != prev, level == 3)

    def test_crlf_lines_are_markers_too(self) -> None:
        text = annotated("#", "").replace("\n", "\r\n")
        self.assertEqual(lab.cut(text, "python", 1, "skeleton").replace("\r\n", "\n"),
                         expected(1, "skeleton", "#", ""))


class Refused(unittest.TestCase):
    def refuse(self, lang: str, text: str, line: int, words: str) -> None:
        with self.assertRaises(lab.LabError) as cm:
            lab.cut(text, lang, 3, "skeleton", "sol/server.x")
        msg = str(cm.exception)
        self.assertTrue(msg.startswith(f"sol/server.x:{line}:"), msg)
        self.assertIn(words, msg)

    def test_typos_are_errors_with_file_and_line(self) -> None:
        good = annotated("#", "").splitlines()
        begin = good.index("# BEGIN LEVEL 4")
        for typo in ("# BEGN LEVEL 4", "# BEGIN LEVLE 4", "# begin level 4", "#BEGIN LEVEL 4",
                     "#  BEGIN LEVEL 4", "# BEGIN LEVEL 7", "# BEGIN LEVEL4", "# BEGINLEVEL 4",
                     "# BEGIN LEVEL 4 extra", "# BEGIN  LEVEL 4", "# BEGIN LEVEL 0"):
            with self.subTest(typo=typo):
                lines = list(good)
                lines[begin] = typo
                self.refuse("python", "\n".join(lines) + "\n", begin + 1, "looks like a level marker")

    def test_prose_about_levels_is_kept(self) -> None:
        text = "# one level at a time\n# At level 3 the vectors arrive\nx = 1  # END LEVEL 3\n"
        self.assertEqual(lab.cut(text, "python", 3, "skeleton"), text)

    def test_wrong_syntax_for_the_language(self) -> None:
        self.refuse("c", "a\n# BEGIN LEVEL 2\nb\n# END LEVEL 2\n", 2, "comment opener")
        self.refuse("ocaml", "a\n(* BEGIN LEVEL 2\nb\n", 2, "must end with")
        self.refuse("c", "a\n/* BEGIN LEVEL 2\n", 2, "must end with")
        self.refuse("python", "a\n# BEGIN LEVEL 2 *)\n", 2, "must end with")

    def test_else_without_todo(self) -> None:
        self.refuse("python", "# BEGIN LEVEL 2\nx\n# ELSE LEVEL 2\npass\n# END LEVEL 2\n", 3, "no TODO")
        self.refuse("python", "# BEGIN LEVEL 2\nx\n# ELSE LEVEL 2\n# TODO\n# END LEVEL 2\n", 3, "no TODO")

    def test_nested_unclosed_and_mismatched_blocks(self) -> None:
        self.refuse("python", "# BEGIN LEVEL 2\n# BEGIN LEVEL 3\n# END LEVEL 3\n# END LEVEL 2\n", 2, "do not nest")
        self.refuse("python", "# GIVEN LEVEL 3\n# BEGIN LEVEL 3\n", 2, "do not nest")
        self.refuse("python", "x\n# BEGIN LEVEL 2\ny\n", 2, "never closed")
        self.refuse("python", "# GIVEN LEVEL 3\ny\n", 1, "never closed")
        self.refuse("python", "# BEGIN LEVEL 2\n# END LEVEL 3\n", 2, "closes BEGIN LEVEL 2")
        self.refuse("python", "# END LEVEL 3\n", 1, "without a BEGIN")
        self.refuse("python", "# ELSE LEVEL 3\n", 1, "outside a BEGIN")
        self.refuse("python", "# GIVEN LEVEL 3\n# ELSE LEVEL 3\n", 2, "outside a BEGIN")
        self.refuse("python", "# BEGIN LEVEL 2\n# ELSE LEVEL 3\n", 2, "in the BEGIN LEVEL 2")
        self.refuse("python", "# BEGIN LEVEL 2\n# ELSE LEVEL 2\n# TODO: a\n# ELSE LEVEL 2\n", 4, "second ELSE")


class Tree(unittest.TestCase):
    """emit, sync and check on a made-up solutions/ tree."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.sol = os.path.join(self.tmp.name, "solutions")
        self.lab = os.path.join(self.tmp.name, "lab")
        os.makedirs(os.path.join(self.sol, "ocaml"))
        with open(os.path.join(self.sol, "ocaml", "server.ml"), "w") as f:
            f.write(annotated("(*", " *)"))
        with open(os.path.join(self.sol, "ocaml", "client.ml"), "w") as f:
            f.write("(* BEGIN LEVEL 1 *)\nc1\n(* ELSE LEVEL 1 *)\n(* TODO: the client *)\n(* END LEVEL 1 *)\n")
        with open(os.path.join(self.sol, "ocaml", "dune"), "w") as f:
            f.write("; SPDX-License-Identifier: MIT\n(executable (name server))\n")

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_emit_client_at_level_1_only_and_build_files_everywhere(self) -> None:
        out1 = os.path.join(self.tmp.name, "o1")
        lab.emit("ocaml", 1, "skeleton", out1, self.sol)
        self.assertEqual(sorted(os.listdir(out1)), ["client.ml", "dune", "server.ml"])
        with open(os.path.join(out1, "client.ml")) as f:
            self.assertEqual(f.read(), "(* TODO: the client *)\n")
        out2 = os.path.join(self.tmp.name, "o2")
        lab.emit("ocaml", 2, "solution", out2, self.sol)
        self.assertEqual(sorted(os.listdir(out2)), ["dune", "server.ml"])
        with open(os.path.join(out2, "server.ml")) as f:
            self.assertEqual(f.read(), expected(2, "solution", "(*", " *)"))

    def test_sync_then_check_catches_hand_edits_and_strays(self) -> None:
        self.assertEqual(len(lab.check(self.sol, self.lab)), 13)  # 6 x (server + dune) + client missing
        lab.sync(self.sol, self.lab)
        self.assertEqual(lab.check(self.sol, self.lab), [])
        p = os.path.join(self.lab, "ocaml", "level4", "server.ml")
        with open(p, "a") as f:
            f.write("(* edited by hand *)\n")
        problems = lab.check(self.sol, self.lab)
        self.assertEqual(len(problems), 1)
        self.assertIn("level4/server.ml: differs", problems[0])
        with open(os.path.join(self.lab, "ocaml", "level2", "client.ml"), "w") as f:
            f.write("x\n")
        self.assertEqual(len(lab.check(self.sol, self.lab)), 2)
        for n in ("server", "server.cmi", "server.o"):  # what building in the folder leaves: not strays
            with open(os.path.join(self.lab, "ocaml", "level3", n), "w") as f:
                f.write("built\n")
        self.assertEqual(len(lab.check(self.sol, self.lab)), 2)
        lab.sync(self.sol, self.lab)  # sync repairs both, removing the stray file
        self.assertEqual(lab.check(self.sol, self.lab), [])
        self.assertFalse(os.path.exists(os.path.join(self.lab, "ocaml", "level2", "client.ml")))

    def test_a_bad_marker_fails_the_whole_run(self) -> None:
        with open(os.path.join(self.sol, "ocaml", "server.ml"), "a") as f:
            f.write("(* BEGIN LEVEL 5 *)\n")
        with self.assertRaises(lab.LabError) as cm:
            lab.check(self.sol, self.lab)
        self.assertIn("server.ml:26:", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
