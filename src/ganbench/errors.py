"""User-facing errors: each names the file, key or value at fault and what is allowed."""


class InputError(RuntimeError):
    """A missing, unreadable or inconsistent input file or dataset."""


class DeviceError(RuntimeError):
    """A device was asked for by name and is not available on this machine."""


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be used: it names the URI and what to do."""


class Interrupted(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` and ``with`` unwinds (temp
    outputs removed, the MLflow run ended KILLED), as Ctrl-C's KeyboardInterrupt does."""

    def __init__(self, signal_name: str = "SIGTERM"):
        super().__init__(signal_name)
        self.signal_name = signal_name


def describe(exc: BaseException, with_type: bool = False) -> str:
    """An exception in one short line, for an error message that must stay one line.

    ``torch.load(weights_only=True)`` refusing a pickle gets a plain explanation: nothing in
    the file was run.
    """
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text:
        return "it holds pickled objects, which weights-only loading refuses to run"
    lines = text.strip().splitlines()
    first = (lines[0] if lines else "")[:300]
    if with_type or not first:
        return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return first
