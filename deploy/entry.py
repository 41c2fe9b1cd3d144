"""spark-submit main file: runs one mobsig command (``entry.py JOB [options]``).

Kept outside the package on purpose: spark-submit puts the main file's folder first on
sys.path, and the package's own modules (e.g. mobsig/calendar.py) must not shadow the
standard library.
"""

import sys

from mobsig.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
