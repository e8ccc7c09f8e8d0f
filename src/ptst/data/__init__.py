"""Data sets: a registry of named sets with roles, local-file and hub readers, and data written by ptst."""

from ptst.data.item import ROLES, Item
from ptst.data.load import load_items, subsample
from ptst.data.registry import DatasetSpec, datasets, get_dataset

__all__ = ["ROLES", "DatasetSpec", "Item", "datasets", "get_dataset", "load_items", "subsample"]
