"""The seccomp filter of ``run: false``: its program, and its effect on a real process."""

import os
import subprocess
import sys
import textwrap
import unittest

from robot_agent_sandbox import seccomp

# Run in a child: no_new_privs, the filter, then a thread (allowed) and a fork (refused).
_CHILD = textwrap.dedent(
    """
    import os, threading
    from robot_agent_sandbox import libc, seccomp
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    seccomp.forbid_new_processes()
    done = []
    thread = threading.Thread(target=done.append, args=(1,))
    thread.start()
    thread.join()
    print("thread", done)
    try:
        os.fork()
        print("forked")
    except PermissionError as exc:
        print("fork refused", exc.errno)
    """
)


class SeccompTest(unittest.TestCase):
    def test_program_jumps_land_on_its_returns(self):
        for machine in ("x86_64", "aarch64"):
            ops, returns = seccomp.program(machine)
            statements = seccomp._assemble(ops, returns)
            self.assertEqual(len(statements), len(ops) + len(returns))
            for at, statement in enumerate(statements[: len(ops)]):
                for jump in (statement.jt, statement.jf):
                    self.assertLess(at + 1 + jump, len(statements), machine)

    @unittest.skipUnless(seccomp.supported(), "no filter for this machine")
    def test_filter_allows_threads_and_refuses_fork(self):
        executors = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        result = subprocess.run(
            [sys.executable, "-c", _CHILD],
            cwd=executors,
            capture_output=True,
            text=True,
            timeout=15,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("thread [1]", result.stdout)
        self.assertIn("fork refused 1", result.stdout)
        self.assertNotIn("forked", result.stdout)


if __name__ == "__main__":
    unittest.main()
