"""Layer 1, data sets on disk: MNIST and CIFAR-10 loaders, the data directory, decoded-array caches.

``python -m gdln.data fetch|where`` downloads the official files or lists the folders searched.

May import: :mod:`gdln.util`.
"""

from gdln.data.loaders import (
                               CifarSplit,
                               DataMissingError,
                               cache_dir,
                               candidate_dirs,
                               fetch,
                               load_cifar10,
                               load_mnist,
                               resnet20_weights_path,
)

__all__ = ["CifarSplit", "DataMissingError", "candidate_dirs", "cache_dir", "fetch", "load_cifar10", "load_mnist",
           "resnet20_weights_path"]
