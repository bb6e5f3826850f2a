"""The separation models: ``DeepClustering`` (ch. 04), ``TasNet`` (ch. 06), ``ConvTasNet`` (ch. 08).

The time-domain models map a mixture ``(batch, time)`` to estimates ``(batch, n_src, time)``.
"""

from tasnet_edu.models.conv_tasnet import ConvTasNet
from tasnet_edu.models.deep_clustering import DeepClustering
from tasnet_edu.models.tasnet import TasNet

__all__ = ["ConvTasNet", "DeepClustering", "TasNet"]
