"""protocols: the dataset schema, native readers for five video ReID datasets, and the shared evaluation.

Public API (stable):

- :func:`read_dataset`, :func:`write_dataset`, :class:`Dataset` — dataset folders in the Parquet schema
- :func:`protocols.datasets.convert`, :func:`protocols.datasets.list_datasets` — native readers
- :func:`evaluate`, :func:`evaluate_features`, :func:`pairwise_distance` — CMC / mAP under one rule
- :func:`re_ranking` — k-reciprocal re-ranking (Zhong et al., CVPR 2017)
- :func:`protocols.evaluation.evaluate_dataset`, :func:`protocols.evaluation.ranked_gallery` — a dataset scored
  under its protocol and a named setting of :data:`protocols.evaluation.EVAL_SETTINGS` (``"default"``, or
  ``"official"``: the GLTR / MARS / DukeMTMC-VideoReID MATLAB scripts' normalisation, distance, AP and counting)
"""
from __future__ import annotations

from lsvid_core import __version__

from .dataset import Dataset, read_dataset, tables_from_sequences, write_dataset, write_tables  # noqa: E402
from .protocol import Protocol  # noqa: E402
from .schema import SPLITS, SchemaError  # noqa: E402

__all__ = [
    "Dataset",
    "Protocol",
    "SPLITS",
    "SchemaError",
    "read_dataset",
    "write_dataset",
    "write_tables",
    "tables_from_sequences",
    "__version__",
]
