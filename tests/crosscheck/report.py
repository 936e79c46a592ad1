"""Named PASS/FAIL checks with timed parts, shared by the cross-check scripts."""
import sys
import time
from contextlib import contextmanager


class Report:
    """Collects named PASS/FAIL checks and times the parts."""

    def __init__(self, max_listed=8):
        self.passed = 0
        self.failed = []
        self.timings = []
        self.max_listed = max_listed

    def check(self, name, problems, note=None):
        """One named check: passes when `problems` (a list of strings) is empty."""
        if problems:
            self.failed.append(name)
            print("FAIL  %s" % name)
            for p in problems[: self.max_listed]:
                print("        %s" % p)
            if len(problems) > self.max_listed:
                print("        ... %d problems in all" % len(problems))
        else:
            self.passed += 1
            print("PASS  %s%s" % (name, "  (%s)" % note if note else ""))
        sys.stdout.flush()
        return not problems

    @contextmanager
    def part(self, label):
        print("\n=== %s" % label)
        sys.stdout.flush()
        t0 = time.monotonic()
        try:
            yield
        finally:
            dt = time.monotonic() - t0
            self.timings.append((label, dt))
            print("--- %s: %.1f s" % (label, dt))
