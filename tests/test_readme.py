"""The README's fields table documents exactly the features the API takes."""

from __future__ import annotations

import re
from pathlib import Path

from model.features import FEATURES

README = Path(__file__).resolve().parent.parent / "README.md"


def test_fields_table_lists_every_feature_in_order_with_its_codes() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", README.read_text(), flags=re.MULTILINE)
    fields = [(name, cells) for name, cells in rows if name in {f.name for f in FEATURES}]
    assert [name for name, _ in fields] == [f.name for f in FEATURES]
    for feature, (_, cells) in zip(FEATURES, fields, strict=True):
        for code, meaning in (feature.codes or {}).items():
            assert f"{code} = {meaning}" in cells
        if feature.minimum is not None:
            assert f"{feature.minimum:g} \N{EN DASH} {feature.maximum:g}" in cells


def test_readme_gives_the_two_quickstart_commands() -> None:
    text = README.read_text()
    assert "make serve" in text and "make test" in text
