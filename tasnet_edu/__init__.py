"""tasnet-edu: the helper package of a notebook course on time-domain speech separation.

Modules follow the chapters, in layers that only import the layers before them (README.md, "The package",
has the table; ``tests/test_layers.py`` checks it):

``errors``, ``utils``, ``separator`` (the interface every model and wrapper provides) → ``audio``, ``masks``,
``metrics`` (``perceptual``: STOI, PESQ, DNSMOS), ``encoders``, ``tcn`` → ``models`` → ``checkpoints`` →
``train``, ``inference``, ``compiled`` → ``pretrained`` (the shipped models, their cards, a ready separator)
(then ``streaming``, ``averaging``) → ``evaluate`` → ``separate`` → ``cli``;
``data`` (speech, mixtures, corpus loaders) needs ``audio`` only;
``viz`` draws; ``exercises`` checks the chapters' exercises.

Signals are float tensors or arrays shaped ``(..., time)`` at ``SAMPLE_RATE`` (8 kHz) unless a
``sample_rate`` says otherwise.
"""

from tasnet_edu.errors import CourseError

__version__ = "0.1.0"
SAMPLE_RATE = 8000

__all__ = ["CourseError", "SAMPLE_RATE", "__version__"]
