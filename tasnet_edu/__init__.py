"""tasnet-edu: the helper package of a notebook course on time-domain speech separation.

Modules follow the chapters (see ``COURSE_PLAN.md`` in the course's shared folder):
``audio`` / ``data`` (signals and mixtures), ``masks`` (STFT and oracle masks),
``metrics`` (SI-SNR, SDR, PIT), ``encoders``, ``tcn``, ``models``, ``train``, ``separate``,
``pretrained`` and ``viz``.

Signals are float tensors or arrays shaped ``(..., time)`` at 8 kHz unless a ``sample_rate`` says otherwise.
"""

from tasnet_edu.errors import CourseError

__version__ = "0.1.0"
SAMPLE_RATE = 8000

__all__ = ["CourseError", "SAMPLE_RATE", "__version__"]
