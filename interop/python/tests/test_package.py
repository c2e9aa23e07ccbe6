# SPDX-License-Identifier: MIT
"""The installable package: pyproject.toml's metadata, an offline pip install into a venv used
from outside the source tree, and README.md's Connection example, run and compared with the output
it shows."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import support

import server

README = support.PYTHON_DIR / "README.md"
PYPROJECT = support.PYTHON_DIR / "pyproject.toml"


def readme_example():
    """The Connection section's Python example and the output shown after it."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Connection: a client"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    shown = re.search(r"```text\n(.*?)```", section[code.end():], re.S)
    return code.group(1), shown.group(1)


def clean_env():
    """The environment without anything that would make the source tree importable."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONNOUSERSITE="1")
    return env


def run_example(python, cwd, env):
    """Run the README example with ``python`` against server.py; its stdout."""
    code, _ = readme_example()
    script = Path(cwd) / "example.py"
    script.write_text(code, encoding="utf-8")
    proc = support.ServerProcess("--quiet")
    try:
        done = subprocess.run([python, str(script), str(proc.port)], cwd=cwd, env=env,
                              capture_output=True, text=True, encoding="utf-8", timeout=30)
    finally:
        proc.stop()
    if done.returncode != 0:
        raise AssertionError("the example failed (%d): %s" % (done.returncode, done.stderr))
    return done.stdout


class Metadata(unittest.TestCase):
    def test_pyproject_fields(self):
        text = PYPROJECT.read_text(encoding="utf-8")
        self.assertIn('name = "wire-protocol"', text)
        self.assertIn('license = {text = "MIT"}', text)
        self.assertIn('requires-python = ">=3.9"', text)
        version = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
        init = (support.PYTHON_DIR / "__init__.py").read_text(encoding="utf-8")
        self.assertEqual(re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1), version)
        self.assertEqual(server.PROGRAM_VERSION, version)


class ReadmeExample(unittest.TestCase):
    def test_example_prints_what_readme_shows(self):
        code, shown = readme_example()
        self.assertLessEqual(len(code.splitlines()), 25)
        with tempfile.TemporaryDirectory() as tmp:
            # `import wireproto` from this source tree, as it would be installed
            os.symlink(support.PYTHON_DIR, os.path.join(tmp, "wireproto"))
            env = dict(clean_env(), PYTHONPATH=tmp)
            self.assertEqual(run_example(sys.executable, tmp, env), shown)


NEEDED = (("pip", "python3-pip"), ("setuptools", "python3-setuptools"), ("wheel", "python3-wheel"))


def _installer():
    """(an interpreter with what an offline install needs, None) or (None, why there is none).
    The one running the tests first, then Debian's (where python3 is another build, e.g. pyenv's,
    without wheel)."""
    missing = [package for module, package in NEEDED if importlib.util.find_spec(module) is None]
    if not missing:
        return sys.executable, None
    check = ("import importlib.util as u, sys; assert sys.version_info >= (3, 9)"
             " and all(u.find_spec(m) for m in ('pip', 'setuptools', 'wheel'))")
    for other in ("/usr/bin/python3",):
        if os.path.realpath(other) != os.path.realpath(sys.executable) and os.access(other, os.X_OK):
            if subprocess.run([other, "-c", check], capture_output=True).returncode == 0:
                return other, None
    return None, "%s lacks %s (Debian packages; scripts/debian-packages lists them)" % (
        sys.executable, ", ".join(missing))


INSTALLER, NO_INSTALLER = _installer()


@unittest.skipIf(INSTALLER is None, NO_INSTALLER or "")
class OfflineInstall(unittest.TestCase):
    """pip install --no-build-isolation --no-index into a new venv, then use from elsewhere."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wireproto-install-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)  # also when the set-up fails
        tmp = Path(cls.tmp)
        # A copy, so that the build leaves nothing in the tree (build/, *.egg-info).
        shutil.copytree(support.PYTHON_DIR, tmp / "src", symlinks=True, ignore=shutil.ignore_patterns(
            "tests", "__pycache__", "build", "*.egg-info"))
        cls.env = clean_env()
        venv = tmp / "venv"
        cls.python = str(venv / "bin" / "python")
        # Without a pip of its own (ensurepip takes seconds): the base's pip, setuptools and wheel
        # are seen through --system-site-packages, and pip installs into the venv it runs in.
        cls.run_checked([INSTALLER, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
        cls.install = cls.run_checked([cls.python, "-m", "pip", "install", "--no-build-isolation",
                                       "--no-index", "--no-cache-dir", str(tmp / "src")])
        cls.outside = tmp / "elsewhere"
        cls.outside.mkdir()

    @classmethod
    def run_checked(cls, command, **kwargs):
        done = subprocess.run(command, env=cls.env, cwd=cls.tmp, capture_output=True, text=True,
                              timeout=120, **kwargs)
        if done.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(command), done.returncode,
                                                            done.stdout, done.stderr))
        return done.stdout

    def run_outside(self, *command):
        done = subprocess.run(list(command), env=self.env, cwd=self.outside, capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout

    def test_import_and_codec_from_outside_the_tree(self):
        out = self.run_outside(self.python, "-c", "\n".join([
            "import importlib.metadata as m, importlib.util, wireproto",
            "from wireproto import server, client, vectors, sessions, connection",
            "data = wireproto.encode([('u32', 7), ('string', 'h\\u00e9llo')])",
            "print(data.hex(), wireproto.decode(data))",
            "print(wireproto.__file__)",
            "print(m.version('wire-protocol'), wireproto.__version__, m.metadata('wire-protocol')['License'])",
            "print(importlib.util.find_spec('wire'), importlib.util.find_spec('vectors'))",
            "print(wireproto.Connection is connection.Connection, wireproto.WireError is wireproto.wire.WireError)",
        ]))
        lines = out.splitlines()
        self.assertEqual(lines[0], "0300000007400000000668c3a96c6c6f [('u32', 7), ('string', 'héllo')]")
        self.assertTrue(lines[1].startswith(self.tmp), lines[1])  # the venv's, not the tree's
        self.assertNotIn(str(support.PYTHON_DIR), lines[1])
        self.assertEqual(lines[2], "0.1.0 0.1.0 MIT")
        self.assertEqual(lines[3], "None None")  # no generic top-level modules installed
        self.assertEqual(lines[4], "True True")

    def test_console_scripts(self):
        bin_dir = Path(self.python).parent
        self.assertEqual(self.run_outside(str(bin_dir / "wireproto-server"), "--version"),
                         "python-server 0.1.0, protocol version 1\n")
        self.assertIn("--port", self.run_outside(str(bin_dir / "wireproto-client"), "--help"))

    def test_readme_example_with_the_installed_package(self):
        _, shown = readme_example()
        self.assertEqual(run_example(self.python, str(self.outside), self.env), shown)


if __name__ == "__main__":
    unittest.main()
