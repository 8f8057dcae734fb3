"""Tools for teaching with minidl: a property-based grader that explains what is wrong.

    from minidl.classroom import check_function, check_op

The grader needs ``hypothesis``; it is imported on first use, so the rest of the package
(e.g. ``minidl.classroom.notebooks``) works without it.
"""

__all__ = ["GradeReport", "GradingError", "check_function", "check_op"]


def __getattr__(name):
    if name in __all__:
        from . import grader

        return getattr(grader, name)
    raise AttributeError(f"module 'minidl.classroom' has no attribute {name!r}")
