"""The cross-entropies' rules hold for every [network] kind, as they held for an MLP (issue 21):
the output layer of a bce (or cross-entropy) gives values in (0, 1), and every target given in
[values] is a probability. A conv1d took bce over relu outputs and then crashed `notes`; a
network of blocks took a bce target of 1.8e308 and `check` reported -inf."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbackprop.io.spec import SpecError, parse_spec
from symbackprop.io.spec.models import KINDS

BCE_REFUSED = "loss 'bce' needs outputs in (0, 1): a sigmoid or softmax output layer"
CE_REFUSED = "loss 'cross_entropy' needs a softmax output layer (use 'bce' for sigmoid)"

# Each kind with two outputs, its output activation and loss to fill in.
NETWORKS = {
    "mlp": 'sizes = [1, 2]\nactivation = "{act}"\nloss = "{loss}"',
    "rnn": 'kind = "rnn"\ninputs = 1\nhidden = 1\noutputs = 2\nsteps = 2\n'
           'output_activation = "{act}"\nloss = "{loss}"',
    "conv1d": 'kind = "conv1d"\nlength = 2\nkernel = 1\noutputs = 2\n'
              'output_activation = "{act}"\nloss = "{loss}"',
    "conv2d": 'kind = "conv2d"\nshape = [2, 2]\nkernel = [1, 1]\noutputs = 2\n'
              'output_activation = "{act}"\nloss = "{loss}"',
    "blocks": 'kind = "blocks"\ninputs = 1\nblocks = [{{ type = "dense", units = 2, '
              'activation = "{act}" }}]\nloss = "{loss}"',
}
#: Kinds whose losses are only squared errors: no cross-entropy to check.
NO_CROSS_ENTROPY = ("attention",)


def _spec(kind: str, act: str, loss: str, values: dict[str, float] | None = None) -> str:
    text = "[network]\n" + NETWORKS[kind].format(act=act, loss=loss) + "\n"
    if values:
        text += "[values]\n" + "".join(f"{json.dumps(k)} = {v!r}\n" for k, v in values.items())
    return text


def _targets(kind: str, act: str, loss: str) -> list[str]:
    return [t.name for t in parse_spec(_spec(kind, act, loss)).graph.targets]


def test_every_network_kind_is_covered_here():
    assert set(NETWORKS) | set(NO_CROSS_ENTROPY) == {"mlp", *KINDS}


@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize(("act", "loss", "message"), [
    ("relu", "bce", BCE_REFUSED), ("identity", "bce", BCE_REFUSED),
    ("tanh", "bce", BCE_REFUSED), ("sigmoid", "cross_entropy", CE_REFUSED),
])
def test_a_cross_entropy_over_outputs_outside_0_1_is_refused_for_every_kind(
        kind, act, loss, message):
    with pytest.raises(SpecError) as info:
        parse_spec(_spec(kind, act, loss), "net.toml")
    assert str(info.value) == f"net.toml: network: {message}"


@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize(("act", "loss"), [("sigmoid", "bce"), ("softmax", "bce"),
                                           ("softmax", "cross_entropy")])
def test_a_cross_entropy_over_probabilities_is_read_for_every_kind(kind, act, loss):
    assert parse_spec(_spec(kind, act, loss)).graph.loss_name == loss


def test_blocks_ending_in_a_norm_are_refused_a_bce():
    spec = ('[network]\nkind = "blocks"\ninputs = 2\nbatch = 2\nloss = "bce"\nblocks = '
            '[{ type = "dense", units = 2, activation = "sigmoid" }, { type = "batch_norm" }]')
    with pytest.raises(SpecError, match="loss 'bce' needs outputs in"):
        parse_spec(spec)


def test_attention_takes_no_cross_entropy():
    with pytest.raises(SpecError, match="unknown attention loss"):
        parse_spec('[network]\nkind = "attention"\nkeys = 2\nd = 2\nloss = "bce"')


@pytest.mark.parametrize("kind", NETWORKS)
@settings(max_examples=20, deadline=None)
@given(y=st.floats(allow_nan=False, allow_infinity=False))
def test_a_bce_target_is_read_only_from_0_to_1_for_every_kind(kind, y):
    name = _targets(kind, "sigmoid", "bce")[0]
    text = _spec(kind, "sigmoid", "bce", {name: y})
    if 0 <= y <= 1:
        assert parse_spec(text).values[name] == y
        return
    with pytest.raises(SpecError) as info:
        parse_spec(text, "net.toml")
    key = f"values.{json.dumps(name) if ',' in name else name}"
    assert str(info.value) == (f"net.toml: {key}: a bce target is a probability from 0 to 1, "
                               f"got {y!r}")


@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize("y", [-0.7, 1.7976931348623157e308, -1e-300, 1.5])
def test_a_cross_entropy_target_outside_0_1_is_refused_for_every_kind(kind, y):
    name = _targets(kind, "softmax", "cross_entropy")[0]
    with pytest.raises(SpecError, match=re.escape(
            f"a cross_entropy target is a probability from 0 to 1, got {y!r}")):
        parse_spec(_spec(kind, "softmax", "cross_entropy", {name: y}))


@pytest.mark.parametrize("kind", NETWORKS)
def test_one_hot_targets_that_do_not_sum_to_one_are_refused_for_every_kind(kind):
    first, second = _targets(kind, "softmax", "cross_entropy")[:2]
    with pytest.raises(SpecError, match="must sum to 1, got 0.6"):
        parse_spec(_spec(kind, "softmax", "cross_entropy", {first: 0.3, second: 0.3}))
