"""The explorer's JSON API through Flask's test client: runs, metadata, predictions with their
attention checked against the decoder called directly, bounds and JSON errors."""

from __future__ import annotations

import json

import pytest
import torch

import attnkit.tasks.seq2seq
from attnkit.decoding import DecodeOptions, beam_search, length_penalty
from attnkit.explore import Limits, RunRegistry, create_app, run_keys
from attnkit.explore.payload import matrix, read_matrix

from .conftest import REPO as REPO_ROOT

DATE, LOCALE = "3. Mai 1979", "de_DE"


def predict(client, key, **body):
    response = client.post(f"/api/runs/{key}/predict", json=body)
    assert response.content_type == "application/json"
    return response


def as_tensor(m):
    assert set(m) == {"shape", "dtype", "base64"} and m["dtype"] == "float32"  # binary, not a number list
    return torch.from_numpy(read_matrix(m).copy()).double()


def test_matrices_travel_as_base64_float32_and_read_back_exactly():
    values = torch.rand(2, 3, 5)
    values[0, 0, 0] = float("nan")
    m = matrix(values)
    assert m["shape"] == [2, 3, 5] and len(m["base64"]) == 4 * ((2 * 3 * 5 * 4 + 2) // 3)  # 4 bytes a number
    back = read_matrix(json.loads(json.dumps(m)))
    assert back.dtype.str == "<f4" and back[0, 0, 0] == 0  # NaN travels as 0
    torch.testing.assert_close(torch.from_numpy(back.copy())[1:], values[1:], atol=0, rtol=0)


def test_runs_are_listed_in_command_line_order_with_their_metadata(client):
    body = client.get("/api/runs").json
    assert [r["key"] for r in body["runs"]] == ["bahdanau", "transformer"]
    rnn, tf = body["runs"]
    assert (rnn["task"], rnn["arch"], rnn["n_heads"], rnn["layer_maps"]) == ("dates", "rnn", 1, False)
    assert (tf["arch"], tf["n_heads"], tf["layer_maps"]) == ("transformer", 2, True)
    assert rnn["choices"]["locale"] == ["de_DE", "en_US"] and rnn["options"] == {"locale": "en_US"}
    assert rnn["decodes"] and rnn["gold"] and rnn["examples"] == 20
    assert body["limits"]["max_input_chars"] > 0
    assert client.get("/api/runs/transformer").json == tf


def test_run_keys_are_folder_names_made_unique(tmp_path):
    paths = [tmp_path / "a", tmp_path / "x" / "a", tmp_path / "b c", tmp_path / "a"]
    assert run_keys(paths) == ["a", "a-2", "b-c", "a-3"]


@pytest.mark.parametrize("key", ["bahdanau", "transformer"])
def test_greedy_output_and_weights_are_the_decoders(client, registry, key):
    run = registry[key].run
    ref = run.task.translate(run.model, [(DATE, LOCALE)])[0]
    body = predict(client, key, input=DATE, options={"locale": LOCALE}).json
    assert body["kind"] == "seq2seq" and body["src_tokens"] == ref.src_tokens
    greedy = body["hypotheses"][0]
    assert greedy["name"] == "greedy" and greedy["output"] == ref.output and greedy["out_tokens"] == ref.out_tokens
    weights = as_tensor(greedy["weights"])
    torch.testing.assert_close(weights, ref.weights.double(), atol=1e-5, rtol=0)
    assert weights.shape[-2:] == (len(ref.out_tokens), len(ref.src_tokens))
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=torch.float64), atol=1e-4, rtol=0)


def test_beam_nbest_is_beam_searchs_list_best_first(client, registry):
    run, k, alpha = registry["bahdanau"].run, 4, 0.6
    ids = run.task.encode_source(DATE, LOCALE)
    ref = beam_search(
        run.model,
        torch.tensor([ids]),
        torch.tensor([len(ids)]),
        run.task.max_target_len,
        DecodeOptions(beam_size=k, n_best=3, alpha=alpha),
    )[0]
    body = predict(client, "bahdanau", input=DATE, options={"locale": LOCALE}, beam_size=k, n_best=3, alpha=alpha).json
    beams = body["hypotheses"]  # one decoding: the beam's n-best, no separate greedy run
    assert [b["name"] for b in beams] == ["beam 1", "beam 2", "beam 3"][: len(ref)]
    assert [b["output"] for b in beams] == [run.task.decode_target(h.tokens) for h in ref]
    assert [b["score"] for b in beams] == pytest.approx([h.score for h in ref])
    norms = [b["score"] / length_penalty(len(b["out_tokens"]), alpha) for b in beams]  # out_tokens end in </s>
    assert norms == sorted(norms, reverse=True)
    for b, h in zip(beams, ref):
        torch.testing.assert_close(as_tensor(b["weights"]), h.weights.double(), atol=1e-5, rtol=0)
    best = run.task.translate(run.model, [(DATE, LOCALE)], DecodeOptions(beam_size=k, alpha=alpha))[0]
    assert beams[0]["output"] == best.output
    # n_best defaults to the beam size: the whole beam is shown
    assert len(predict(client, "bahdanau", input=DATE, options={"locale": LOCALE}, beam_size=2).json["hypotheses"]) == 2


@pytest.mark.parametrize(
    "key, body",
    [
        ("bahdanau", {"beam_size": 1}),
        ("bahdanau", {"beam_size": 4, "n_best": 3}),
        ("transformer", {"beam_size": 1}),
        ("transformer", {"beam_size": 3, "n_best": 2, "layers": True}),
    ],
)
def test_one_request_decodes_once(client, registry, monkeypatch, key, body):
    """Every hypothesis shown comes from one call of the decoder, and the layer maps from one
    teacher-forced pass over that decoding's best output."""
    decoded, passes = [], []
    real = attnkit.tasks.seq2seq.decode_ids

    def counted(model, sources, options, **kwargs):
        decoded.append((len(sources), options))
        return real(model, sources, options, **kwargs)

    monkeypatch.setattr(attnkit.tasks.seq2seq, "decode_ids", counted)
    model = registry[key].run.model
    if hasattr(model, "attention_maps"):
        real_maps = model.attention_maps
        monkeypatch.setattr(model, "attention_maps", lambda *a, **k: passes.append(a[2].shape) or real_maps(*a, **k))
    got = predict(client, key, input=DATE, options={"locale": LOCALE}, **body).json
    assert len(decoded) == 1 and decoded[0][0] == 1
    options = decoded[0][1]
    assert options.beam_size == body["beam_size"] and options.n_best == body.get("n_best", body["beam_size"])
    assert len(got["hypotheses"]) == (1 if body["beam_size"] == 1 else body["n_best"])
    if key == "transformer":  # layers default to true: one pass, over <s> and the best output
        assert len(passes) == 1 and passes[0] == (1, len(got["hypotheses"][0]["out_tokens"]))


def test_transformer_layer_maps_by_layer_and_head(client, registry):
    body = predict(client, "transformer", input=DATE, options={"locale": LOCALE}).json
    greedy = body["hypotheses"][0]
    to, tk = len(greedy["out_tokens"]), len(body["src_tokens"])
    layers = {name: as_tensor(m) for name, m in body["layers"].items()}
    assert layers["cross"].shape == (2, 2, to, tk)
    assert layers["encoder_self"].shape == (2, 2, tk, tk) and layers["decoder_self"].shape == (2, 2, to, to)
    for maps in layers.values():  # every row a distribution
        torch.testing.assert_close(maps.sum(-1), torch.ones(maps.shape[:-1], dtype=torch.float64), atol=1e-4, rtol=0)
    assert torch.all(layers["decoder_self"].triu(1) == 0)  # causal: no weight on later outputs
    # the teacher-forced pass over the greedy output gives the last layer's weights that incremental decoding kept
    torch.testing.assert_close(layers["cross"][-1], as_tensor(greedy["weights"]), atol=1e-4, rtol=0)
    assert predict(client, "transformer", input=DATE, options={"locale": LOCALE}, layers=False).json["layers"] is None
    assert predict(client, "bahdanau", input=DATE, options={"locale": LOCALE}).json["layers"] is None


def test_gold_links_for_a_test_example(client, registry):
    example = registry["bahdanau"].examples()[0]
    listed = client.get("/api/runs/bahdanau/examples?n=3").json["examples"]
    assert len(listed) == 3 and listed[0] == {"text": example.text, "locale": example.locale, "target": example.target}
    body = predict(client, "bahdanau", input=example.text, options={"locale": example.locale}).json
    shift = 1  # the locale tag is source token 0
    expected = [[t, example.year_span[0] + shift, example.year_span[1] + shift] for t in range(4)]
    expected += [[t, example.month_span[0] + shift, example.month_span[1] + shift] for t in (5, 6)]
    expected += [[t, example.day_span[0] + shift, example.day_span[1] + shift] for t in (8, 9)]
    assert body["gold"] == expected
    assert predict(client, "bahdanau", input="not a test example", options={"locale": "en_US"}).json["gold"] is None


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"input": 3}, 400, "'input' must be a string"),
        ({"input": "x" * 20001}, 400, "at most 20000"),
        ({"input": "x" * 65}, 400, "at most 64"),  # the model's own limit
        ({"input": "", "options": {}}, 400, "empty input"),
        ({"input": DATE, "options": {"locale": "xx_XX"}}, 400, "unknown locale 'xx_XX'"),
        ({"input": DATE, "options": {"colour": "red"}}, 400, "unknown input option 'colour'"),
        ({"input": DATE, "options": ["de_DE"]}, 400, "'options' must be an object"),
        ({"input": DATE, "beam_size": 0}, 400, "'beam_size' must be an integer from 1 to 16"),
        ({"input": DATE, "beam_size": 99}, 400, "from 1 to 16"),
        ({"input": DATE, "beam_size": 2, "n_best": True}, 400, "'n_best' must be an integer"),
        ({"input": DATE, "alpha": -1}, 400, "'alpha': alpha must be a finite number >= 0, got -1"),
        ({"input": DATE, "beam_size": 2, "stop": "soon"}, 400, "'stop': stop must be one of heuristic, exact"),
        ({"input": DATE, "beam_size": 2, "n_best": 3}, 400, "'n_best': n_best (3) must be <= beam_size (2)"),
        ({"input": DATE, "max_len": 0}, 400, "'max_len': max_len must be an integer >= 1"),
        ({"input": DATE, "max_len": 5000}, 400, "'max_len' must be at most 4096"),
        ({"input": DATE, "layers": "yes"}, 400, "'layers' must be true or false"),
        ({"input": DATE, "path": "/etc/passwd"}, 400, "unknown field 'path'"),
        (["3. Mai 1979"], 400, "must be a JSON object"),
    ],
)
def test_bad_requests_get_a_json_error(client, body, status, message):
    response = (
        predict(client, "bahdanau", **body)
        if isinstance(body, dict)
        else client.post("/api/runs/bahdanau/predict", json=body)
    )
    assert response.status_code == status
    assert message in response.json["error"] and "Traceback" not in response.get_data(as_text=True)


def test_transport_errors_are_json_too(client):
    cases = [
        (
            client.post("/api/runs/bahdanau/predict", data="{not json", content_type="application/json"),
            400,
            "must be JSON",
        ),
        (
            client.post("/api/runs/bahdanau/predict", data=b"[" * (2 << 20), content_type="application/json"),
            413,
            "over",
        ),
        (client.get("/api/runs/nothere"), 404, "no run 'nothere'; this explorer serves: bahdanau, transformer"),
        (client.post("/api/runs/..%2F..%2Fetc/predict", json={"input": "x"}), 404, ""),
        (client.get("/api/runs/../../etc/passwd"), 404, ""),
        (client.get("/static/../runs.py"), 404, ""),
        (client.delete("/api/runs"), 405, "not allowed"),
        (client.get("/api/runs/bahdanau/examples?n=x"), 400, "n must be an integer"),
    ]
    for response, status, message in cases:
        assert response.status_code == status and response.content_type == "application/json"
        assert message in response.json["error"]


def test_an_internal_failure_is_a_json_500_without_traceback(client, registry, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(registry["bahdanau"].run.task, "predict", boom)
    response = predict(client, "bahdanau", input=DATE, options={"locale": LOCALE})
    assert response.status_code == 500 and "RuntimeError: the model fell over" in response.json["error"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_answers_are_bounded_in_numbers(registry):
    few = create_app(registry, limits=Limits(max_cells=300)).test_client()
    body = predict(few, "transformer", input=DATE, options={"locale": LOCALE}).json  # 2x12x11 + 300-cap layers
    assert body["layers"] is None and "layer x head maps left out" in body["layers_note"]
    tiny = create_app(registry, limits=Limits(max_cells=50)).test_client()
    response = predict(tiny, "bahdanau", input=DATE, options={"locale": LOCALE})
    assert response.status_code == 413 and "over this explorer's limit of 50" in response.json["error"]


def test_the_page_and_its_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and b"<html" in page.data.lower()
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp  # nothing from a CDN can load
    assert client.get("/api/runs").headers["Cache-Control"] == "no-store"


def test_only_trusted_host_names_reach_the_api(registry):
    client = create_app(registry, trusted_hosts=["localhost", "127.0.0.1"]).test_client()
    assert client.get("/api/runs", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    response = client.get("/api/runs", headers={"Host": "attacker.example"})
    assert response.status_code == 400 and response.content_type == "application/json"


def test_registry_refuses_nothing_to_serve():
    with pytest.raises(ValueError, match="no runs"):
        RunRegistry({})


def test_nothing_is_unpickled(tiny_runs, monkeypatch):
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    client = create_app(RunRegistry.load([tiny_runs["transformer"]])).test_client()
    assert predict(client, "transformer", input=DATE, options={"locale": LOCALE}, beam_size=2).status_code == 200
    assert json.loads(client.get("/api/runs").data)["runs"][0]["key"] == "transformer"


def test_layer_maps_on_their_own_match_those_of_the_prediction(client):
    body = predict(client, "transformer", input=DATE, options={"locale": LOCALE}).json
    out_tokens = body["hypotheses"][0]["out_tokens"]
    alone = client.post(
        "/api/runs/transformer/layers", json={"input": DATE, "options": {"locale": LOCALE}, "out_tokens": out_tokens}
    ).json
    for name in ("cross", "encoder_self", "decoder_self"):
        torch.testing.assert_close(as_tensor(alone["layers"][name]), as_tensor(body["layers"][name]), atol=0, rtol=0)
    without_eos = client.post(
        "/api/runs/transformer/layers",
        json={"input": DATE, "options": {"locale": LOCALE}, "out_tokens": out_tokens[:-1]},
    ).json
    assert without_eos["layers"]["cross"]["shape"] == body["layers"]["cross"]["shape"]  # </s> is added
    for json_body, message in [
        ({"input": DATE, "out_tokens": "12"}, "'out_tokens' must be a list"),
        ({"input": DATE, "out_tokens": ["1"], "beam_size": 2}, "unknown field 'beam_size'"),
        ({"input": "", "out_tokens": ["1"]}, "empty input"),
    ]:
        response = client.post("/api/runs/transformer/layers", json=json_body)
        assert response.status_code == 400 and message in response.json["error"]
    response = client.post("/api/runs/bahdanau/layers", json={"input": DATE, "out_tokens": ["1"]})
    assert response.status_code == 400 and "only Transformers" in response.json["error"]


def test_the_page_needs_only_files_shipped_in_the_package(client):
    import re
    from importlib import resources

    static = resources.files("attnkit.explore") / "static"
    html = (static / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/explore.js" in refs and "/static/explore.css" in refs
    for ref in refs:
        if ref.startswith("data:"):
            continue
        assert ref.startswith("/static/"), ref  # nothing from another origin
        response = client.get(ref)
        assert response.status_code == 200 and response.data == (static / ref.removeprefix("/static/")).read_bytes()
    for name in ("index.html", "explore.js", "explore.css"):
        text = (static / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://", text.replace("http://www.w3.org/2000/svg", "")), name  # no CDN, no fonts
    assert (
        "package-data" in (REPO_ROOT / "pyproject.toml").read_text()
        and '"explore/static/*"' in (REPO_ROOT / "pyproject.toml").read_text()
    )


def test_each_beam_hypothesis_has_its_own_layer_maps(client):
    body = predict(
        client, "transformer", input=DATE, options={"locale": LOCALE}, beam_size=3, n_best=3, layers=False
    ).json
    for hyp in body["hypotheses"][1:]:
        maps = client.post(
            "/api/runs/transformer/layers",
            json={"input": DATE, "options": {"locale": LOCALE}, "out_tokens": hyp["out_tokens"]},
        ).json["layers"]
        cross = as_tensor(maps["cross"])
        assert cross.shape[-2:] == (len(hyp["out_tokens"]), len(body["src_tokens"]))
        # teacher forcing over the beam's hypothesis gives the last-layer weights beam search kept for it
        torch.testing.assert_close(cross[-1], as_tensor(hyp["weights"]), atol=1e-4, rtol=0)
