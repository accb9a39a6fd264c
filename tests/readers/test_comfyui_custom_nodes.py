"""ComfyUI graphs built from custom node packs, written here from each pack's published node
definitions (input names and order as their INPUT_TYPES declare them), in API and UI format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from seedlock.cli import cli
from seedlock.extract import RawMetadata
from seedlock.readers import parse_raw, read
from seedlock.readers.comfyui import explain

NEG = "lowres, bad hands"
POS = "a lighthouse at dusk, volumetric light"


def api(graph: dict[str, Any]) -> Any:
    return parse_raw(RawMetadata(format="png", fields={"prompt": json.dumps(graph)}))


def ui(nodes: list[dict[str, Any]], links: list[list[Any]], **extra: Any) -> Any:
    wf = {"nodes": nodes, "links": links, "version": 0.4, **extra}
    return parse_raw(RawMetadata(format="png", fields={"workflow": json.dumps(wf)}))


def node(
    nid: int, ntype: str, widgets: list[Any], inputs: list[tuple[str, str, int | None]] = (), mode: int = 0
) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "id": nid,
        "type": ntype,
        "mode": mode,
        "widgets_values": widgets,
        "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
    }


def check(rec: Any, *, seed: int, steps: int, cfg: float, sampler: str, model: str | None = None) -> None:
    assert rec.generator.value == "comfyui"
    assert (rec.seed, rec.steps, rec.cfg_scale, rec.canonical_sampler) == (seed, steps, cfg, sampler)
    if model is not None:
        assert rec.model is not None and rec.model.name == model


EFFICIENT_API = {
    "1": {
        "class_type": "Efficient Loader",
        "inputs": {
            "ckpt_name": "juggernautXL_v9.safetensors", "vae_name": "Baked VAE", "clip_skip": -2,
            "lora_name": "detail_tweaker.safetensors", "lora_model_strength": 0.6, "lora_clip_strength": 0.5,
            "positive": POS, "negative": NEG, "token_normalization": "none", "weight_interpretation": "comfy",
            "empty_latent_width": 832, "empty_latent_height": 1216, "batch_size": 1,
        },
    },
    "2": {
        "class_type": "KSampler (Efficient)",
        "inputs": {
            "seed": 123456789, "steps": 28, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras",
            "denoise": 1.0, "preview_method": "auto", "vae_decode": "true",
            "model": ["1", 0], "positive": ["1", 1], "negative": ["1", 2], "latent_image": ["1", 3],
        },
    },
}  # fmt: skip


def test_efficiency_nodes_api_graph() -> None:
    rec = api(EFFICIENT_API)
    check(rec, seed=123456789, steps=28, cfg=6.5, sampler="dpmpp_2m", model="juggernautXL_v9.safetensors")
    assert rec.prompt == POS and rec.negative_prompt == NEG
    assert (rec.width, rec.height) == (832, 1216)
    assert [(a.name, a.weight, a.weight_clip) for a in rec.adapters] == [("detail_tweaker.safetensors", 0.6, 0.5)]


def test_efficiency_nodes_ui_workflow() -> None:
    loader = node(1, "Efficient Loader", ["juggernautXL_v9.safetensors", "Baked VAE", -2, "None", 1, 1, POS, NEG,
                                         "none", "comfy", 832, 1216, 1])  # fmt: skip
    sampler = node(
        2, "KSampler (Efficient)", [123456789, "fixed", 28, 6.5, "dpmpp_2m", "karras", 1, "auto", "true"],
        [("model", "MODEL", 1), ("positive", "CONDITIONING", 2), ("negative", "CONDITIONING", 3),
         ("latent_image", "LATENT", 4)],
    )  # fmt: skip
    links = [[1, 1, 0, 2, 0, "MODEL"], [2, 1, 1, 2, 1, "CONDITIONING"], [3, 1, 2, 2, 2, "CONDITIONING"],
             [4, 1, 3, 2, 3, "LATENT"]]  # fmt: skip
    rec = ui([loader, sampler], links)
    check(rec, seed=123456789, steps=28, cfg=6.5, sampler="dpmpp_2m", model="juggernautXL_v9.safetensors")
    assert rec.prompt == POS and rec.negative_prompt == NEG and (rec.width, rec.height) == (832, 1216)
    assert not rec.adapters  # lora_name "None" is no LoRA


def test_lora_stacker_into_efficient_loader() -> None:
    graph = json.loads(json.dumps(EFFICIENT_API))
    graph["1"]["inputs"]["lora_name"] = "None"
    graph["1"]["inputs"]["lora_stack"] = ["3", 0]
    graph["3"] = {
        "class_type": "LoRA Stacker",
        "inputs": {"input_mode": "advanced", "lora_count": 2,
                   "lora_name_1": "a.safetensors", "lora_wt_1": 1.0, "model_str_1": 0.7, "clip_str_1": 0.4,
                   "lora_name_2": "b.safetensors", "lora_wt_2": 1.0, "model_str_2": 0.3, "clip_str_2": 0.3,
                   "lora_name_3": "c.safetensors", "lora_wt_3": 1.0, "model_str_3": 1.0, "clip_str_3": 1.0},
    }  # fmt: skip
    rec = api(graph)
    assert [(a.name, a.weight, a.weight_clip) for a in rec.adapters] == [
        ("a.safetensors", 0.7, 0.4),
        ("b.safetensors", 0.3, 0.3),
    ]


def test_impact_pack_basic_pipe() -> None:
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": POS, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEG, "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
        "10": {"class_type": "ToBasicPipe",
               "inputs": {"model": ["4", 0], "clip": ["4", 1], "vae": ["4", 2], "positive": ["6", 0], "negative": ["7", 0]}},
        "11": {"class_type": "ImpactKSamplerBasicPipe",
               "inputs": {"basic_pipe": ["10", 0], "seed": 42, "steps": 25, "cfg": 7.0, "sampler_name": "euler_ancestral",
                          "scheduler": "normal", "denoise": 1.0, "latent_image": ["5", 0]}},
    }  # fmt: skip
    rec = api(graph)
    check(rec, seed=42, steps=25, cfg=7.0, sampler="euler_ancestral", model="sd15.safetensors")
    assert rec.prompt == POS and rec.negative_prompt == NEG and (rec.width, rec.height) == (512, 768)


def test_rgthree_context_and_seed_nodes() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flat2d.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": POS, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": NEG, "clip": ["1", 1]}},
        "4": {"class_type": "SDXL Empty Latent Image (rgthree)",
              "inputs": {"dimensions": " 896 x 1152  (portrait)", "clip_scale": 2.0, "batch_size": 1}},
        "5": {"class_type": "Seed (rgthree)", "inputs": {"seed": 777}},
        "6": {"class_type": "Context (rgthree)",
              "inputs": {"model": ["1", 0], "clip": ["1", 1], "vae": ["1", 2], "positive": ["2", 0],
                         "negative": ["3", 0], "latent": ["4", 0], "seed": ["5", 0]}},
        "7": {"class_type": "KSampler",
              "inputs": {"seed": ["6", 8], "steps": 30, "cfg": 5.0, "sampler_name": "dpmpp_2m_sde", "scheduler": "karras",
                         "denoise": 1.0, "model": ["6", 1], "positive": ["6", 4], "negative": ["6", 5],
                         "latent_image": ["6", 6]}},
    }  # fmt: skip
    rec = api(graph)
    check(rec, seed=777, steps=30, cfg=5.0, sampler="dpmpp_2m_sde", model="flat2d.safetensors")
    assert rec.prompt == POS and rec.negative_prompt == NEG and (rec.width, rec.height) == (896, 1152)


def test_an_unknown_sampler_is_read_by_its_shape() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": POS, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": NEG, "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 640, "height": 640, "batch_size": 1}},
        "9": {"class_type": "SomePack Turbo Sampler v3",
              "inputs": {"noise_seed": 5, "steps": 8, "cfg": 1.5, "sampler_name": "lcm", "scheduler": "sgm_uniform",
                         "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "samples": ["4", 0]}},
    }  # fmt: skip
    rec = api(graph)
    check(rec, seed=5, steps=8, cfg=1.5, sampler="lcm", model="m.safetensors")
    assert (rec.width, rec.height) == (640, 640)


def test_an_unknown_ui_sampler_is_read_by_its_widget_shape() -> None:
    nodes = [
        node(1, "CheckpointLoaderSimple", ["m.safetensors"]),
        node(2, "CLIPTextEncode", [POS], [("clip", "CLIP", 1)]),
        node(9, "SomePack Sampler", [99, "randomize", 12, 4.5, "euler", "simple", 1.0, "enable"],
             [("model", "MODEL", 2), ("positive", "CONDITIONING", 3)]),
    ]  # fmt: skip
    links = [[1, 1, 1, 2, 0, "CLIP"], [2, 1, 0, 9, 0, "MODEL"], [3, 2, 0, 9, 1, "CONDITIONING"]]
    rec = ui(nodes, links)
    check(rec, seed=99, steps=12, cfg=4.5, sampler="euler", model="m.safetensors")
    assert rec.prompt == POS
    assert any("by their shape" in w and "SomePack Sampler" in w for w in rec.warnings)


def test_a_graph_without_any_sampler_still_gives_a_record() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": POS, "clip": ["1", 1]}},
        "3": {"class_type": "Mystery Render Node", "inputs": {"magic": ["2", 0], "seed": 31, "quality": "high"}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    }
    rec = api(graph)
    assert rec.generator.value == "comfyui" and rec.seed == 31 and rec.prompt == POS
    assert rec.model is not None and rec.model.name == "m.safetensors" and rec.width == 512
    assert any("no node of the graph was recognised as a sampler" in w for w in rec.warnings)
    assert "Mystery Render Node" in " ".join(rec.warnings)


@pytest.mark.parametrize("bad", [{}, {"1": {"class_type": "X", "inputs": {}}}, {"1": {"class_type": "Y"}}])
def test_graphs_with_nothing_in_them_are_records_too(bad: dict[str, Any]) -> None:
    rec = api(bad) if bad else parse_raw(RawMetadata(format="png", fields={"workflow": '{"nodes": [], "links": []}'}))
    assert rec.generator.value == "comfyui"


def test_wildcard_encode_uses_the_populated_text() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "ImpactWildcardEncode",
              "inputs": {"wildcard_text": "a {red|blue} car", "populated_text": "a blue car", "mode": "populate",
                         "seed": 3, "model": ["1", 0], "clip": ["1", 1]}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": 1, "steps": 2, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1.0, "model": ["2", 0], "positive": ["2", 2], "negative": ["2", 2],
                         "latent_image": ["4", 0]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    }  # fmt: skip
    assert api(graph).prompt == "a blue car"


def test_string_nodes_and_the_prompt_styler() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "s": {"class_type": "SDXLPromptStyler",
              "inputs": {"text_positive": "a fox", "text_negative": "blurry", "style": "base", "log_prompt": True}},
        "f": {"class_type": "StringFunction|pysssss",
              "inputs": {"action": "append", "tidy_tags": "no", "text_a": ["s", 0], "text_b": ", masterpiece"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": ["f", 0], "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ["s", 1], "clip": ["1", 1]}},
        "4": {"class_type": "KSampler",
              "inputs": {"seed": 1, "steps": 2, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1.0, "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                         "latent_image": ["5", 0]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    }  # fmt: skip
    rec = api(graph)
    assert rec.prompt == "a fox, masterpiece" and rec.negative_prompt == "blurry"


def test_ui_reroute_primitive_and_bypassed_lora() -> None:
    nodes = [
        node(1, "CheckpointLoaderSimple", ["base.safetensors"]),
        node(2, "LoraLoader", ["bypassed.safetensors", 1.0, 1.0], [("model", "MODEL", 1), ("clip", "CLIP", 2)], mode=4),
        node(3, "Reroute", [], [("", "*", 3)]),
        node(4, "CLIPTextEncode", [NEG], [("clip", "CLIP", 5)]),
        node(5, "CLIPTextEncode", [POS], [("clip", "CLIP", 6)]),
        node(6, "PrimitiveNode", [4242, "fixed"]),
        node(7, "EmptyLatentImage", [768, 512, 1]),
        node(8, "KSampler", [0, "fixed", 20, 7.0, "euler", "normal", 1.0],
             [("model", "MODEL", 4), ("positive", "CONDITIONING", 7), ("negative", "CONDITIONING", 8),
              ("latent_image", "LATENT", 9), ("seed", "INT", 10)]),
        node(9, "Note", ["remember: this is not a prompt"]),
    ]  # fmt: skip
    links = [
        [1, 1, 0, 2, 0, "MODEL"], [2, 1, 1, 2, 1, "CLIP"], [3, 2, 0, 3, 0, "MODEL"], [4, 3, 0, 8, 0, "MODEL"],
        [5, 1, 1, 4, 0, "CLIP"], [6, 1, 1, 5, 0, "CLIP"], [7, 5, 0, 8, 1, "CONDITIONING"],
        [8, 4, 0, 8, 2, "CONDITIONING"], [9, 7, 0, 8, 3, "LATENT"], [10, 6, 0, 8, 4, "INT"],
    ]  # fmt: skip
    rec = ui(nodes, links)
    check(rec, seed=4242, steps=20, cfg=7.0, sampler="euler", model="base.safetensors")
    # the links give the order: the first text node is the negative here
    assert rec.prompt == POS and rec.negative_prompt == NEG
    assert (rec.width, rec.height) == (768, 512) and not rec.adapters


def test_subgraph_definitions_are_read() -> None:
    inner = [
        node(1, "CheckpointLoaderSimple", ["inner.safetensors"]),
        node(2, "CLIPTextEncode", [POS], [("clip", "CLIP", 1)]),
        node(3, "EmptyLatentImage", [512, 512, 1]),
        node(4, "KSampler", [11, "fixed", 9, 2.5, "heun", "karras", 1.0],
             [("model", "MODEL", 2), ("positive", "CONDITIONING", 3), ("negative", "CONDITIONING", 3),
              ("latent_image", "LATENT", 4)]),
    ]  # fmt: skip
    sub_links = [
        {"id": 1, "origin_id": 1, "origin_slot": 1, "target_id": 2, "target_slot": 0, "type": "CLIP"},
        {"id": 2, "origin_id": 1, "origin_slot": 0, "target_id": 4, "target_slot": 0, "type": "MODEL"},
        {"id": 3, "origin_id": 2, "origin_slot": 0, "target_id": 4, "target_slot": 1, "type": "CONDITIONING"},
        {"id": 4, "origin_id": 3, "origin_slot": 0, "target_id": 4, "target_slot": 3, "type": "LATENT"},
    ]
    definitions = {"subgraphs": [{"id": "5a1b-subgraph", "nodes": inner, "links": sub_links}]}
    rec = ui([node(20, "5a1b-subgraph", [])], [], definitions=definitions)
    check(rec, seed=11, steps=9, cfg=2.5, sampler="heun", model="inner.safetensors")
    assert rec.prompt == POS


def test_a1111_text_beside_the_graph_fills_what_the_graph_lacks() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "LLM Prompt Generator", "inputs": {"instruction": "write a prompt", "seed": 5}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ["2", 0], "clip": ["1", 1]}},
        "4": {"class_type": "KSampler",
              "inputs": {"seed": 8, "steps": 2, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1.0, "model": ["1", 0], "positive": ["3", 0], "negative": ["3", 0],
                         "latent_image": ["5", 0]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    }  # fmt: skip
    text = "a generated prompt\nSteps: 2, Sampler: Euler, CFG scale: 3, Seed: 8, Size: 64x64, Model hash: 0123456789, Model: m"
    rec = parse_raw(RawMetadata(format="png", fields={"prompt": json.dumps(graph), "parameters": text}))
    assert rec.generator.value == "comfyui" and rec.prompt == "a generated prompt"
    assert rec.model is not None and rec.model.hashes.get("autov2") == "0123456789"


def test_read_explain_names_the_node_of_each_field(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("prompt", json.dumps(EFFICIENT_API))
    p = tmp_path / "e.png"
    Image.new("RGB", (4, 4)).save(p, pnginfo=info)
    sources = explain(__import__("seedlock.extract", fromlist=["extract"]).extract(p))
    assert sources["seed"] == "node 2 (KSampler (Efficient))"
    assert sources["prompt"] == "node 1 (Efficient Loader)" and sources["model"] == "node 1 (Efficient Loader)"
    result = CliRunner().invoke(cli, ["read", "--explain", str(p)])
    assert result.exit_code == 0, result.stderr
    assert "seed" in result.stdout and "node 2 (KSampler (Efficient))" in result.stdout
    doc = json.loads(CliRunner().invoke(cli, ["read", "--explain", "--json", str(p)]).stdout)
    assert doc["explain"]["size"] == "node 1 (Efficient Loader)"
    assert read(p).seed == 123456789


def test_every_fixture_workflow_reads_like_its_api_graph(images: Path) -> None:
    """The UI workflow alone (prompt chunk removed) gives the API graph's recipe, on every real file."""
    from seedlock.extract import extract

    compared = 0
    for p in sorted(images.rglob("*.png")):
        try:
            raw = extract(p)
        except Exception:
            continue  # the damaged files of the corpus
        if "prompt" not in raw.fields or "workflow" not in raw.fields:
            continue
        full = parse_raw(raw)
        if full.generator.value != "comfyui":
            continue
        alone = parse_raw(RawMetadata(format=raw.format, fields={"workflow": raw.fields["workflow"]}))
        for name in ("seed", "steps", "cfg_scale", "canonical_sampler", "canonical_scheduler", "width", "height",
                     "prompt", "negative_prompt", "denoise"):  # fmt: skip
            assert getattr(alone, name) == getattr(full, name), (p.name, name)
        assert (alone.model and alone.model.name) == (full.model and full.model.name), p.name
        assert len(alone.passes) == len(full.passes), p.name
        compared += 1
    assert compared >= 20


def test_no_comfyui_graph_in_the_fixtures_reads_to_nothing(images: Path) -> None:
    from seedlock.extract import extract

    for p in sorted(images.rglob("*")):
        if p.suffix.lower() not in (".png", ".webp", ".jpg", ".jpeg"):
            continue
        try:
            raw = extract(p)
        except Exception:
            continue
        if "workflow" in raw.fields or '"class_type"' in raw.fields.get("prompt", ""):
            rec = parse_raw(raw)
            assert rec.generator.value not in ("none", "unknown"), p
