"""Layer 1, data sets on disk: MNIST and CIFAR-10 loaders, the data directory, checksums, checked caches.

``python -m gdln.data fetch|where`` downloads the official files or lists the folders searched.

May import: :mod:`gdln.util`.
"""

from gdln.data.loaders import (
                               EXPECTED,
                               CifarSplit,
                               DataChecksumError,
                               DataMissingError,
                               cache_dir,
                               cached_arrays,
                               candidate_dirs,
                               data_manifest,
                               fetch,
                               file_identity,
                               load_cifar10,
                               load_mnist,
                               resnet20_weights_path,
                               verify_manifest,
)

__all__ = ["EXPECTED", "CifarSplit", "DataChecksumError", "DataMissingError", "candidate_dirs", "cache_dir",
           "cached_arrays", "data_manifest", "fetch", "file_identity", "load_cifar10", "load_mnist",
           "resnet20_weights_path", "verify_manifest"]
