"""Explanations of an imported BERT against the papers' formulas applied to ``transformers``' own
tensors (value vectors, attention probabilities, gradients) on the same weights, the way the
ALTI authors' code reads a Hugging Face BERT (forward hooks on the value projection)."""

from __future__ import annotations

import pytest
import torch

from attnkit.models.explain import EncoderInputs, explain, self_attention_explanations
from attnkit.training import load_run
from tests.functional.test_explain import alti_reference

from .conftest import SENTENCES, hf_model

pytest.importorskip("transformers", reason="transformers is the reference (pip install transformers)")
TOL = dict(rtol=1e-4, atol=1e-5)


def _hf_pass(ref, ids):
    """transformers' per-layer (input hidden states, value vectors (Nh, T, Dh), attention (Nh, T, T))."""
    values = []
    hooks = [
        layer.attention.self.value.register_forward_hook(lambda mod, inp, out: values.append(out))
        for layer in ref.bert.encoder.layer
    ]
    try:
        out = ref(ids, output_attentions=True, output_hidden_states=True)
    finally:
        for h in hooks:
            h.remove()
    return out, values


def test_norm_alti_and_grad_of_imported_bert_match_transformers(checkpoints, imported):
    run, ref = load_run(imported["bert-cls"]), hf_model(checkpoints["bert-cls"])
    model = run.model
    ids = torch.tensor([run.task.tokenizer.encode(SENTENCES[1]).ids])
    out, values = _hf_pass(ref, ids)
    label = int(out.logits[0].argmax())

    def target(h):  # the predicted class's logit: pooler then classifier, as the imported model's head
        return model.classifier(torch.tanh(model.pooler(h[:, 0])))[:, label]

    inputs = EncoderInputs(list(model.layers), model.embed(ids), None, None, None, target)
    norm, alti, grad = (explain(name, inputs) for name in ("norm", "alti", "grad"))
    cfg = ref.config
    nh, dh = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    for layer, hf_layer in enumerate(ref.bert.encoder.layer):
        alpha = out.attentions[layer][0].detach()  # (Nh, T, T)
        v = values[layer][0].detach().view(-1, nh, dh).transpose(0, 1)  # (Nh, T, Dh)
        dense = hf_layer.attention.output.dense
        f = torch.stack([v[h] @ dense.weight[:, h * dh : (h + 1) * dh].T for h in range(nh)])  # (Nh, T, D)
        torch.testing.assert_close(norm.heads[0, layer], alpha * f.norm(dim=-1)[:, None, :], **TOL)
        ln = hf_layer.attention.output.LayerNorm
        ref_alti = alti_reference(
            alpha.double(),
            f.detach().double(),
            out.hidden_states[layer][0].detach().double(),
            bias=dense.bias.detach(),
            ln=(ln.weight.detach().double(), ln.bias.detach().double(), ln.eps),
        )
        torch.testing.assert_close(alti.layers[0, layer].double(), ref_alti, **TOL)
    # gradient-weighted: transformers' attention probabilities are in its graph (eager, eval)
    out = ref(ids, output_attentions=True)
    grads = torch.autograd.grad(out.logits[0, label], out.attentions)
    relevance = torch.eye(ids.shape[1])
    for layer, (a, g) in enumerate(zip(out.attentions, grads)):
        abar = (g[0] * a[0]).clamp_min(0).mean(0)  # [Chefer21b] Eq. 5
        torch.testing.assert_close(grad.layers[0, layer], abar.detach(), **TOL)
        relevance = relevance + abar.detach() @ relevance  # Eq. 6
    torch.testing.assert_close(grad.total[0], relevance, **TOL)
    maps = self_attention_explanations(inputs, ["rollout", "norm"])
    assert maps["rollout"].shape == maps["norm"].shape == (ids.shape[1], ids.shape[1])
