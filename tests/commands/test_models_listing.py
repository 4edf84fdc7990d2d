"""``sr4det models`` lists the size and receptive field of the network that ``pretrained=True`` loads (the shipped
weights may use a smaller configuration than the architecture's defaults: srresnet/srgan, srcnn, vdsr)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from sr4det.cli import main
from sr4det.models import create_model, get_card, list_models
from sr4det.models.weights import shipped_weights

SHIPPED = [(n, s) for n in list_models() for s in get_card(n).scales if shipped_weights(get_card(n), s)]


@pytest.fixture(scope="module")
def rows():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["models", "--json"]) == 0
    return {r["name"]: r for r in json.loads(out.getvalue())}


def test_some_weights_are_shipped():
    assert ("srresnet", 4) in SHIPPED and len(SHIPPED) >= 10


@pytest.mark.parametrize(("name", "scale"), SHIPPED, ids=[f"{n}_x{s}" for n, s in SHIPPED])
def test_listed_params_are_those_pretrained_true_loads(rows, name, scale):
    model = create_model(name, scale, pretrained=True)
    params = sum(p.numel() for p in model.parameters())
    row = rows[name]
    assert row["weights_params"][f"x{scale}"] == params
    if f"params_x{scale}" in row:  # the scale the table shows
        assert row[f"params_x{scale}"] == params
        assert row["receptive_field"] == model.card.receptive_field


def test_srresnet_is_listed_at_its_shipped_size(rows, capsys):
    assert rows["srresnet"]["params_x4"] < 300_000  # the shipped configuration, not the 1.55M default
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("srresnet "))
    assert f"{rows['srresnet']['params_x4']:,}" in line
