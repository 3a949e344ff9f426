"""Losses, one per file, each documenting its inputs, formula and reference."""

from .cosent import CoSENTLoss, cosent_loss
from .listwise import listwise_softmax_loss

__all__ = ["CoSENTLoss", "cosent_loss", "listwise_softmax_loss"]
