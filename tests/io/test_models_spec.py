"""[network] kind = "rnn" | "conv1d" | "conv2d" | "attention" | "blocks" in spec files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import symbackprop as sb
from symbackprop.io.spec import SpecError, load_spec, parse_spec

GALLERY = Path(__file__).resolve().parents[2] / "docs" / "examples"
MODEL_SPECS = sorted(GALLERY.glob("model-*.toml"))


def test_there_is_a_gallery_spec_per_model():
    assert [s.stem for s in MODEL_SPECS] == [
        "model-attention", "model-batchnorm", "model-blocks", "model-conv1d-channels",
        "model-conv1d", "model-conv2d", "model-rnn-softmax", "model-rnn"]


@pytest.mark.parametrize("path", MODEL_SPECS, ids=lambda p: p.stem)
def test_gallery_model_specs_have_every_value_and_correct_gradients(path):
    spec = load_spec(path)
    assert spec.missing_values == []
    check = sb.check_gradients(sb.derive(spec.graph), spec.values, rtol=1e-5, atol=1e-7)
    assert check.ok, str(check)


def test_rnn_spec_builds_what_the_api_builds():
    spec = parse_spec('[network]\nkind = "rnn"\ninputs = 2\nhidden = 2\noutputs = 1\n'
                      'steps = 3\nloss_at = "last"\nnotation = "karpathy"\nbias = false')
    net = sb.rnn(2, 2, 1, 3, every_step=False, bias=False, notation="karpathy")
    assert [s.name for s in spec.graph.symbols] == [s.name for s in net.symbols]
    assert spec.graph.expr(spec.graph.loss_symbol) == net.expr(net.loss_symbol)


def test_latex_respelling_works_for_models():
    spec = parse_spec('[network]\nkind = "conv1d"\nlength = 3\nkernel = 2\n'
                      '[network.latex]\nb = "b_{\\\\mathrm{conv}}"')
    assert spec.graph.latex_name(spec.graph.symbol("b")) == r"b_{\mathrm{conv}}"


@pytest.mark.parametrize("body, key, message", [
    ('kind = "lstm"', "network.kind", "unknown network kind"),
    ('kind = "rnn"\ninputs = 1\nhidden = 1\noutputs = 1', "network", "missing key 'steps'"),
    ('kind = "rnn"\ninputs = 1\nhidden = 0\noutputs = 1\nsteps = 2', "network.hidden",
     "positive integer"),
    ('kind = "rnn"\ninputs = 1\nhidden = 1\noutputs = 1\nsteps = 1000', "network.steps",
     "limit"),
    ('kind = "conv1d"\nlength = 3\nkernel = 2\nsizes = [1, 2]', "network.sizes", "unknown key"),
    ('kind = "conv1d"\nlength = 2\nkernel = 3', "network", "larger than the input"),
    ('kind = "conv2d"\nshape = [3]\nkernel = [2, 2]', "network.shape", "rows, columns"),
    ('kind = "attention"\nkeys = 2\nd = 2\nprojections = "yes"', "network.projections",
     "true or false"),
    ('kind = "blocks"\ninputs = 2\nblocks = [{ type = "conv" }]', "network.blocks[0].type",
     "unknown block type"),
    ('kind = "blocks"\ninputs = 2\nblocks = [{ type = "dense" }]', "network.blocks[0]",
     "missing key 'units'"),
    ('kind = "blocks"\ninputs = 2\nblocks = [{ type = "batch_norm" }]', "network",
     "batch of at least 2"),
    ('kind = "blocks"\ninputs = 2\nblocks = [{ type = "layer_norm", units = 2 }]',
     "network.blocks[0].units", "takes"),
])
def test_bad_model_specs_give_one_line_naming_the_key(body, key, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec("[network]\n" + body, "m.toml")
    assert info.value.key == key
    assert "\n" not in str(info.value)


def test_cli_grad_on_an_rnn_spec():
    path = GALLERY / "model-rnn.toml"
    out = subprocess.run([sys.executable, "-m", "symbackprop", "check", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
