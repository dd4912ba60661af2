"""User-facing errors: each names the file, key or value at fault and what is allowed."""


class InputError(RuntimeError):
    """A missing, unreadable or inconsistent input file or dataset."""


class DeviceError(RuntimeError):
    """A device was asked for by name and is not available on this machine."""
