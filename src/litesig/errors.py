"""One error family: every failure a user can cause is a LitesigError with a clear message."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple


def clip(text: str, limit: int = 100) -> str:
    """A name from a file, cut for a message: a 32 MB name must not make a 32 MB message."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def listing(names: Iterable[str], limit: int = 20) -> str:
    """'a, b, c' for a message: at most `limit` names, each clipped, then how many more."""
    names = list(names)
    shown = ", ".join(clip(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit:,} more)" if len(names) > limit else "")


def did_you_mean(name: str, available: Iterable[str]) -> str:
    """' (did you mean 'serve'?)' when one of `available` is close to `name`, else ''. Bounded: names come from files."""
    options = [a for a in available if len(a) <= 200] if len(name) <= 200 else []
    if not options or len(options) > 10_000:  # difflib is quadratic in length
        return ""
    import difflib  # here: only a mistake needs it

    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {clip(close[0])!r}?)" if close else ""


class LitesigError(Exception):
    """Base of all litesig errors. The CLI prints the message and exits with `exit_code`."""

    exit_code = 2


class Problem(NamedTuple):
    """One problem found in an input, located by a key path such as `signatures.encode.inputs.x`."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InvalidInput(LitesigError):
    """Bad input (spec, flags, files): carries every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[Problem]):
        self.source = source
        self.problems = tuple(problems)
        n = len(self.problems)
        head = f"{source}: {n} problem{'s' if n != 1 else ''}"
        super().__init__(head + "".join(f"\n  - {p}" for p in self.problems))


class MissingDependency(LitesigError):
    """An optional dependency (TensorFlow for convert/verify) is not installed."""

    def __init__(self, package: str, extra: str, needed_for: str):
        self.package, self.extra = package, extra
        super().__init__(
            f"{needed_for} needs {package}, which is not installed. "
            f"Install it with: pip install 'litesig[{extra}]' (from a clone of litesig: pip install '.[{extra}]')"
        )


class NotATFLiteModel(LitesigError):
    """The bytes are not a TFLite flatbuffer, or it is corrupt."""


class SignatureNotFound(LitesigError, KeyError):
    """A signature name that the model does not have."""

    def __init__(self, signature: str, available: Iterable[str], *, what: str = "signature"):
        self.signature = signature
        self.available = tuple(available)
        msg = f"no {what} {clip(signature)!r}; " + (
            f"the model has: {listing(self.available)}" if self.available else "the model has none"
        )
        super().__init__(msg + did_you_mean(signature, self.available))

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ConversionFailed(LitesigError):
    """The TFLite converter refused the model; carries its message and a hint where one is known."""

    exit_code = 1


class VerificationFailed(LitesigError):
    """The converted model does not compute what the source computes."""

    exit_code = 1

    def __init__(self, message: str, report: object | None = None):
        self.report = report
        super().__init__(message)


class OutputExists(LitesigError):
    """The output file exists and --force was not given."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"{path} exists; pass --force to overwrite it")
