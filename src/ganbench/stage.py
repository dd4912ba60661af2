"""The common entry point of the DVC stage scripts: user errors become one clear line, exit 2."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from ganbench.config import ParamsError
from ganbench.errors import DeviceError, InputError  # not ganbench.device: no torch import here

USER_ERRORS = (ParamsError, InputError, DeviceError)


def run_stage(name: str, body: Callable[[], None]) -> None:
    """Run ``body``; a params, input or device error prints ``ganbench <name>: error: ...``."""
    logging.basicConfig(level=logging.INFO, format=f"ganbench {name}: %(message)s")
    try:
        body()
    except USER_ERRORS as exc:
        print(f"ganbench {name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
