"""How every entry script ends: a problem the user can fix is one line on stderr, not a traceback."""

from __future__ import annotations

import errno
import sys
import warnings
from pathlib import Path

from analysis_core.errors import PipelineError
from analysis_core.files import disk_full


def run(main, *args) -> None:
    """Call ``main(*args)``; a PipelineError, or a full disk, becomes one message on stderr and exit
    status 2. The folder named for a full disk is the first argument's ``root`` (a run folder)."""
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    try:
        main(*args)
    except PipelineError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        folder = next((a.root for a in args if hasattr(a, "root")), Path.cwd())
        print(f"ERROR: {disk_full(error.filename or folder)}", file=sys.stderr)
        sys.exit(2)


def call(function):
    """``function()``, with a PipelineError reported as by :func:`run`."""
    result = []
    run(lambda: result.append(function()))
    return result[0]
