"""Readers for formats with no real sample in ../shared/fixtures (metadata-formats.md §7):
Easy Diffusion, Draw Things, Hugging Face Spaces, Civitai, Fooocus-MRE, legacy SwarmUI.
Files are built here from the writers' documented layouts, through the real containers."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from seedlock.readers import read


def _png(tmp_path: Path, fields: dict[str, str], name: str = "x.png") -> Path:
    info = PngInfo()
    for k, v in fields.items():
        info.add_text(k, v)
    p = tmp_path / name
    Image.new("RGB", (8, 8)).save(p, pnginfo=info)
    return p


def _jpeg_user_comment(tmp_path: Path, text: str, *, encoding: str = "utf-16-be", name: str = "x.jpg") -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode(encoding)
    p = tmp_path / name
    Image.new("RGB", (8, 8)).save(p, exif=exif)
    return p


def test_easy_diffusion_png_fields(tmp_path: Path) -> None:
    rec = read(
        _png(
            tmp_path,
            {
                "prompt": "a castle",
                "negative_prompt": "fog",
                "seed": "1234",
                "use_stable_diffusion_model": r"C:\\models\\sd-v1-5.safetensors",
                "clip_skip": "False",
                "use_vae_model": "None",
                "sampler_name": "euler_a",
                "width": "512",
                "height": "768",
                "num_inference_steps": "25",
                "guidance_scale": "7.5",
                "use_lora_model": "['detail', 'style']",
                "lora_alpha": "[0.5, 0.8]",
                "use_face_correction": "GFPGANv1.4",
                "use_upscale": "None",
            },
        )
    )
    assert rec.generator.value == "easydiffusion"
    assert (rec.seed, rec.steps, rec.cfg_scale, rec.width, rec.height) == (1234, 25, 7.5, 512, 768)
    assert rec.canonical_sampler == "euler_ancestral"
    assert rec.model is not None and rec.model.name and rec.model.name.endswith("sd-v1-5.safetensors")
    assert [(a.name, a.weight) for a in rec.adapters] == [("detail", 0.5), ("style", 0.8)]
    assert [p.kind for p in rec.postprocessing] == ["face_restore"]


def test_easy_diffusion_jpeg_json(tmp_path: Path) -> None:
    payload = {
        "prompt": "a dog",
        "seed": 7,
        "use_stable_diffusion_model": "m",
        "sampler_name": "dpmpp_2m",
        "num_inference_steps": 30,
        "guidance_scale": 6,
        "width": 640,
        "height": 640,
    }
    rec = read(_jpeg_user_comment(tmp_path, json.dumps(payload)))
    assert rec.generator.value == "easydiffusion" and rec.seed == 7 and rec.canonical_sampler == "dpmpp_2m"


def test_draw_things_xmp(tmp_path: Path) -> None:
    body = json.dumps(
        {
            "c": "a fox “quoted”",
            "uc": "blur",
            "seed": 99,
            "size": "768x512",
            "sampler": "DPM++ 2M Karras",
            "scale": 5,
            "steps": 30,
            "strength": 1,
            "model": "sd_xl_base_1.0_f16.ckpt",
            "lora": [{"model": "detail_lora_f16.ckpt", "weight": 0.6}],
            "seed_mode": "Scale Alike",
        }
    )
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/">'
        '<xmp:CreatorTool>Draw Things</xmp:CreatorTool><exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">'
        + body.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        + "</rdf:li></rdf:Alt></exif:UserComment></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    rec = read(_png(tmp_path, {"XML:com.adobe.xmp": xmp}))
    assert rec.generator.value == "drawthings"
    assert (rec.prompt, rec.seed, rec.width, rec.height, rec.steps) == ("a fox “quoted”", 99, 768, 512, 30)
    assert (rec.canonical_sampler, rec.canonical_scheduler) == ("dpmpp_2m", "karras")
    assert rec.rng == "Scale Alike" and rec.adapters[0].weight == 0.6


def test_hf_space_json(tmp_path: Path) -> None:
    params = {
        "prompt": "a bird",
        "negative_prompt": "",
        "resolution": "1024 x 1024",
        "guidance_scale": 7,
        "num_inference_steps": 28,
        "seed": 5,
        "sampler": "DPM++ 2M Karras",
        "Model": "Animagine XL",
        "Model hash": "e3c47aedb0" + "0" * 54,
        "use_upscaler": None,
    }
    rec = read(_png(tmp_path, {"parameters": json.dumps(params)}))
    assert rec.generator.value == "hf-space"
    assert (rec.width, rec.height, rec.steps, rec.cfg_scale, rec.seed) == (1024, 1024, 28, 7.0, 5)
    assert rec.model is not None and rec.model.hashes["sha256"].startswith("e3c47aedb0")


def test_civitai_jpeg_infotext_with_resources(tmp_path: Path) -> None:
    text = (
        "a cat\nNegative prompt: dog\nSteps: 25, Sampler: Euler a, CFG scale: 5, Seed: 1311178179, Size: 1024x1024, "
        'Clip skip: 2, Created Date: 2026-01-04T01:27:21.2717070Z, Civitai resources: [{"type":"checkpoint",'
        '"modelVersionId":2514310,"modelName":"WAI","modelVersionName":"v16"},{"type":"lora","weight":0.8,'
        '"modelVersionId":111,"modelName":"detail"}], Civitai metadata: {}'
    )
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")
    p = tmp_path / "c.jpg"
    Image.new("RGB", (8, 8)).save(p, exif=exif)  # Pillow writes II order; the body stays UTF-16BE, like Civitai
    rec = read(p)
    assert rec.generator.value == "civitai"
    assert rec.seed == 1311178179 and rec.clip_skip == 2
    assert rec.model is not None and rec.model.version == "2514310" and rec.model.name == "WAI v16"
    assert [(a.kind, a.name, a.weight) for a in rec.adapters] == [("lora", "detail", 0.8)]


def test_civitai_comfy_json_in_user_comment(tmp_path: Path) -> None:
    graph = {
        "resource-stack": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "urn:air:sdxl:checkpoint:civitai:827184@2514310"},
        },
        "6": {
            "class_type": "smZ CLIPTextEncode",
            "inputs": {"text": "a cat", "parser": "A1111", "clip": ["resource-stack", 1]},
        },
        "7": {
            "class_type": "smZ CLIPTextEncode",
            "inputs": {"text": "dog", "parser": "A1111", "clip": ["resource-stack", 1]},
        },
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 42,
                "steps": 25,
                "cfg": 4,
                "sampler_name": "euler_ancestral",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["resource-stack", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "extra": {"airs": ["urn:air:sdxl:checkpoint:civitai:827184@2514310"]},
        "extraMetadata": json.dumps({"prompt": "a cat", "seed": 42, "steps": 25}),
    }
    rec = read(_jpeg_user_comment(tmp_path, json.dumps(graph)))
    assert rec.generator.value == "civitai"
    assert (rec.seed, rec.width, rec.height, rec.prompt) == (42, 832, 1216, "a cat")
    assert rec.model is not None and rec.model.version and "2514310" in rec.model.version


def test_swarmui_utf16le_and_legacy_model_tag(tmp_path: Path) -> None:
    doc = {
        "sui_image_params": {
            "prompt": "テスト",
            "seed": 3,
            "steps": 20,
            "cfgscale": 7,
            "width": 512,
            "height": 512,
            "sampler": "euler",
            "scheduler": "karras",
            "model": "m",
            "swarm_version": "0.9",
        }
    }
    rec = read(_jpeg_user_comment(tmp_path, json.dumps(doc, ensure_ascii=False), encoding="utf-16-le"))
    assert rec.generator.value == "swarmui" and rec.prompt == "テスト"
    exif = Image.Exif()
    exif[0x0110] = json.dumps(doc)
    p = tmp_path / "legacy.jpg"
    Image.new("RGB", (8, 8)).save(p, exif=exif)
    assert read(p).seed == 3


def test_fooocus_mre_comment(tmp_path: Path) -> None:
    mre = {
        "prompt": "a lake",
        "negative_prompt": "",
        "seed": 5,
        "width": 1152,
        "height": 896,
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "steps": 30,
        "cfg": 7,
        "base_model": "sd_xl_base_1.0.safetensors",
        "l1": "sd_xl_offset.safetensors",
        "w1": 0.5,
        "l2": "None",
        "software": "Fooocus 1.0.43 MRE",
    }
    rec = read(_png(tmp_path, {"Comment": json.dumps(mre)}))
    assert rec.generator.value == "fooocus" and rec.generator_name == "Fooocus-MRE"
    assert rec.seed == 5 and [a.name for a in rec.adapters] == ["sd_xl_offset.safetensors"]


def test_text_chunk_after_idat_and_comf_chunk(tmp_path: Path) -> None:
    import struct
    import zlib

    p = tmp_path / "late.png"
    Image.new("RGB", (8, 8)).save(p)
    data = p.read_bytes()
    graph = '{"3":{"class_type":"KSampler","inputs":{"seed":11,"steps":2,"cfg":1,"sampler_name":"euler","scheduler":"normal","latent_image":["5",0]}},"5":{"class_type":"EmptyLatentImage","inputs":{"width":64,"height":64,"batch_size":1}}}'
    body = b"prompt\x00" + graph.encode()
    chunk = struct.pack(">I", len(body)) + b"comf" + body + struct.pack(">I", zlib.crc32(b"comf" + body))
    iend = data.rindex(b"IEND") - 4
    p.write_bytes(data[:iend] + chunk + data[iend:])
    rec = read(p)
    assert rec.generator.value == "comfyui" and rec.seed == 11 and rec.width == 64
