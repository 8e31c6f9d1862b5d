"""One small exception hierarchy: user errors exit 2 with one line each; anything else is a bug."""

from __future__ import annotations


class EcobenchError(Exception):
    """Base of every error ecobench raises on purpose."""


class UserError(EcobenchError):
    """Bad input or environment the user can fix; the CLI prints it (no traceback) and exits 2."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


class SuiteError(UserError):
    """A suite file (or a --set override) is malformed; `problems` holds one line per problem."""


class DataError(UserError):
    """A corpus cannot be loaded, fails its checksum, or is too small; `field` names the suite key at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class StructureError(UserError):
    """A pruning structure cannot be applied: a malformed N:M, a ratio that would empty a layer, a model that cannot
    hold the structure. `field` names the suite key at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class TargetsError(UserError):
    """The weights a suite asks to prune cannot be pruned as named (a tied output head); `field` names the key."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class SensorError(UserError):
    """The suite asked for a measurement this machine cannot make; `field` names the suite key that asked."""

    def __init__(self, message: str, field: str = "footprint"):
        super().__init__(message)
        self.field = field


class LockedError(UserError):
    """Another live ecobench process holds the results folder."""


class ResultsError(UserError):
    """A results folder is missing, unreadable, or does not match what was asked."""


class CellFailed(EcobenchError):
    """A cell hit a non-finite loss; the sweep records it and goes on."""

    def __init__(self, phase: str, step: int | None, reason: str):
        super().__init__(f"{phase}: {reason}" + (f" at step {step}" if step is not None else ""))
        self.phase = phase
        self.step = step
        self.reason = reason


class UnsafePathError(UserError):
    """A path ecobench would read or write is a link, FIFO, device or hard-linked file where a regular file of its
    own belongs: refused rather than followed, blocked on, or written through."""


class MeasurementStopped(EcobenchError):
    """`footprint.on_contention: stop` ended the run cleanly: other programs kept the machine busy. The cell being
    measured is not recorded, so re-running the same command resumes with it."""
