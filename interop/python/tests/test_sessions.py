# SPDX-License-Identifier: MIT
"""Every session of proto/sessions.txt (proto/README.md section 8) against server.py, started
with the file's config options; each session on its own connection, reported on its own."""

import concurrent.futures
import unittest

import support

import sessions

SESSIONS_FILE = support.PROTO_DIR / "sessions.txt"
# The file held this many sessions when this test was written: fewer means it was cut short.
EXPECTED_SESSIONS = 78
# Sessions run in parallel (the timeout.* ones take seconds of waiting each); not all at once, so
# that the timing windows (an answer from the header within 3 s) keep a margin on a busy machine.
WORKERS = 12


class Sessions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.file = sessions.load_sessions(SESSIONS_FILE)
        cls.server = support.ServerProcess(*cls.file.config)

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    def test_file_is_whole(self):
        self.assertGreaterEqual(len(self.file.sessions), EXPECTED_SESSIONS)
        self.assertTrue(all(session.steps for session in self.file.sessions))

    def test_every_session(self):
        # the long waits first, so that they overlap with everything else
        order = sorted(self.file.sessions, key=lambda s: not s.name.startswith("timeout."))
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            results = {session.name: pool.submit(sessions.run_session, session, "127.0.0.1",
                                                 self.server.port, self.file.max_payload)
                       for session in order}
        ran = 0
        for session in self.file.sessions:
            with self.subTest(session=session.name):
                why = results[session.name].result()
                self.assertIsNone(why, "session %s (sessions.txt line %d, SPEC %s): %s"
                                  % (session.name, session.line, session.spec, why))
            ran += 1
        self.assertEqual(ran, len(self.file.sessions))

    def test_runner_reports_wrong_answers(self):
        # the runner itself must fail a session whose expectation the server does not meet
        wrong = sessions.parse_sessions(
            "config | --max-payload 1048576 |\n"
            "session offset | |\n"
            "  send HELLO | u16:1 u32:16777216 string:6e*256 |\n"
            "  expect-error MESSAGE | 16 |\n"
            "session code | |\n"
            "  send HELLO | u16:1 u32:16777216 string:6e*256 |\n"
            "  expect-error VERSION | 17 |\n"
            "session payload | |\n"
            "  hello | |\n"
            "  send PING | | 01\n"
            "  expect PONG | | 02\n"
            "session fields | |\n"
            "  hello | |\n"
            "  send ROUNDTRIP | u8:1 |\n"
            "  expect ROUNDTRIP_REPLY | u8:2 |\n"
            "session type | |\n"
            "  hello | |\n"
            "  send PING | |\n"
            "  expect ECHO_REPLY | |\n"
            "session close | |\n"
            "  send PING | |\n"
            "  expect-close | |\n"
            "session hello-max | |\n"
            "  hello | |\n").sessions
        for session in wrong:
            with self.subTest(session=session.name):
                self.assertIsNotNone(sessions.run_session(session, "127.0.0.1", self.server.port,
                                                          self.file.max_payload + 1
                                                          if session.name == "hello-max"
                                                          else self.file.max_payload))


class Parsing(unittest.TestCase):
    def test_steps(self):
        parsed = sessions.parse_sessions(
            "config | --max-payload 2000 --idle-timeout 2 |\n"
            "session a.b | 7.2 |\n"
            "  hello | |\n"
            "  send VECTOR_GET | string:61 |\n"
            "  raw | | 0100 0003*2\n"
            "  expect VECTOR_RESULT | u8:2 string:* string: string: |\n"
            "  expect-error MESSAGE | 14 | 500\n"
            "session c | 8.5 |\n"
            "  send 0x8000 | | 01\n"
            "  shutdown | |\n"
            "  expect-error TIMEOUT | none |\n"
            "  expect-close | | 3000\n")
        self.assertEqual(parsed.config, ["--max-payload", "2000", "--idle-timeout", "2"])
        self.assertEqual(parsed.max_payload, 2000)
        first, second = parsed.sessions
        self.assertEqual([s.kind for s in first.steps],
                         ["hello", "send", "raw", "expect", "expect-error"])
        self.assertEqual(first.steps[2].data, bytes.fromhex("0100 00030003"))
        self.assertIs(first.steps[3].fields[1][1], sessions.vectors.ANY)
        self.assertEqual((first.steps[4].code, first.steps[4].offset, first.steps[4].wait_ms),
                         (13, 14, 500))
        self.assertEqual((second.steps[0].msg_type, second.steps[0].data), (0x8000, b"\x01"))
        self.assertEqual((second.steps[2].offset, second.steps[2].wait_ms), (None, sessions.EXPECT_MS))
        self.assertEqual(second.steps[3].wait_ms, 3000)

    def test_malformed_files_are_refused(self):
        for text in ("session a | |\n",                                   # no config line
                     "config | |\nhello | |\n",                           # a step before a session
                     "config | |\nsession a | |\n  dance | |\n",          # unknown step
                     "config | |\nsession a | |\n  send NOPE | |\n",      # unknown type
                     "config | |\nsession a | |\n  expect-error NOPE | 1 |\n",
                     "config | |\nsession a | |\n  expect-error MESSAGE | x |\n",
                     "config | |\nsession a | |\n  raw | |\n",
                     "config | |\nsession a | |\nsession a | |\n"):
            with self.subTest(text=text):
                with self.assertRaises(sessions.SessionsError):
                    sessions.parse_sessions(text)


if __name__ == "__main__":
    unittest.main()
