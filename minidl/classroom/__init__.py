"""Tools for teaching with minidl: a property-based grader that explains what is wrong.

    from minidl.classroom import check_function, check_op
"""

from .grader import GradeReport, GradingError, check_function, check_op

__all__ = ["GradeReport", "GradingError", "check_function", "check_op"]
