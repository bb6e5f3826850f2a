"""One exception type for input the course cannot use.

The CLI prints a ``CourseError`` as one line (``tasnet-edu: error: …``) and exits non-zero; in a notebook it
reads as a sentence, not a traceback into library internals. Messages name the file or tensor and the problem.
"""


class CourseError(ValueError):
    """Bad input: a missing or unreadable file, a wrong shape, NaN samples, a wrong sample rate, …"""
