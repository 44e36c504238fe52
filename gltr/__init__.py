"""gltr: the GLTR model (Li et al., ICCV 2019): frame backbones, DTP, TSA.

A pure model library (torch and torchvision only).  Aggregators map frame
features ``(B, T, d)`` and an optional ``(B, T)`` bool padding mask (True =
real frame) to a video feature ``(B, out_dim)``; the blocks they are made of
(:class:`DilatedTemporalPyramid`, :class:`TemporalSelfAttention`, ...) work in
conv layout ``(B, C, T)``.
"""
from gltr.backbone import (
    BackboneConfig,
    FrameBackbone,
    build_backbone,
    list_backbones,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from gltr.dtp import DilatedTemporalPyramid, ParallelTemporalConv, PyramidTemporalConv
from gltr.masking import MaskedBatchNorm1d, lengths_to_mask, masked_mean
from gltr.model import GLTR, DTPOnly, PyramidConv, TSAOnly
from gltr.pooling import TemporalPyramidPooling
from gltr.tsa import TemporalSelfAttention
from gltr.weights import RandomInitWarning, WeightsMismatchError

__all__ = [
    "BackboneConfig",
    "DTPOnly",
    "DilatedTemporalPyramid",
    "FrameBackbone",
    "GLTR",
    "MaskedBatchNorm1d",
    "ParallelTemporalConv",
    "PyramidConv",
    "PyramidTemporalConv",
    "RandomInitWarning",
    "TSAOnly",
    "TemporalPyramidPooling",
    "TemporalSelfAttention",
    "WeightsMismatchError",
    "build_backbone",
    "lengths_to_mask",
    "list_backbones",
    "load_checkpoint",
    "load_weights",
    "masked_mean",
    "save_checkpoint",
]
