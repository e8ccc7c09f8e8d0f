"""Where a command's items come from: the data-set options every stage shares (and their CLI flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ptst.core.validation import Seed
from ptst.data.item import Item
from ptst.data.load import load_items


class DataSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str = Field(description="registered data set name (see `ptst data list`)")
    data_file: str | None = Field(None, description="read the data set from this local file")
    data_format: Literal["jsonl", "json", "csv", "parquet", "txt"] | None = Field(
        None, description="file format (default: from the suffix)")
    input_field: str | None = Field(None, description="field that holds the input")
    answer_field: str | None = Field(None, description="field that holds the reference answer")
    split: str | None = Field(None, description="hub split (default: the data set's own)")
    limit: int | None = Field(None, ge=1, description="a seeded random subsample of N items",
                              json_schema_extra={"aliases": ["--sample"], "metavar": "N"})
    data_seed: Seed = Field(0, description="seed of the subsample")

    def load(self, purpose: str = "eval") -> list[Item]:
        return load_items(self.data, data_file=self.data_file, data_format=self.data_format,
                          input_field=self.input_field, answer_field=self.answer_field, split=self.split,
                          purpose=purpose, limit=self.limit, seed=self.data_seed)
