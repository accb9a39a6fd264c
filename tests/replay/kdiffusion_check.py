"""Run A1111's sampling both ways on the tiny model and print the largest latent difference per case.

Usage: PYTHONPATH=<k-diffusion site> python kdiffusion_check.py SITE MODEL
One side is the ``k-diffusion`` package (``CompVisDenoiser``, its schedules and samplers) with
A1111's CFG batching and noise rules written out here; the other is
``seedlock.replay.a1111_sampling``. Both call the same UNet and text embeddings.
"""

from __future__ import annotations

import json
import sys
import types


def main() -> None:
    site, model = sys.argv[1], sys.argv[2]
    # the package's own __init__ imports its training tools; only the sampling modules are loaded
    package = types.ModuleType("k_diffusion")
    package.__path__ = [f"{site}/k_diffusion"]
    sys.modules["k_diffusion"] = package
    import torch
    from k_diffusion import external, sampling

    from seedlock.replay import a1111_sampling as a1111
    from seedlock.replay.run import Engine, quiet_libraries

    quiet_libraries()
    torch.set_num_threads(1)
    pipe = Engine().pipeline(model)
    with torch.no_grad():
        cond, uncond = pipe.encode_prompt("a red fox in the snow", "cpu", 1, True, "blurry")

    class CompVisModel:
        # ldm's register_schedule: float64 betas and cumprod, kept as a float32 buffer
        betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
        alphas_cumprod = torch.tensor((1.0 - betas).numpy().cumprod(axis=0), dtype=torch.float32)

        def apply_model(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
            return pipe.unet(x, t, encoder_hidden_states=cond).sample

    def eps(x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return pipe.unet(x, t, encoder_hidden_states=context).sample

    wrap = external.CompVisDenoiser(CompVisModel())
    cfg = 6.5

    def reference_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        # A1111's CFGDenoiser: cond and uncond in one batch, mixed in denoised space
        out = wrap(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=torch.cat([cond, uncond]))
        c, u = out.chunk(2)
        return u + (c - u) * cfg

    table = a1111.CompVisSchedule()
    ours_denoiser = a1111.cfg_denoiser(eps, table, cond, uncond, cfg)
    k_schedules = {"karras": sampling.get_sigmas_karras, "exponential": sampling.get_sigmas_exponential,
                   "polyexponential": sampling.get_sigmas_polyexponential}  # fmt: skip
    k_samplers = {name: getattr(sampling, f"sample_{name}") for name in a1111.SAMPLERS}
    shape = (1, 4, 8, 8)
    results = []
    cases = [(s, sch, 8, 11, 0) for s in a1111.SAMPLERS for sch in a1111.SCHEDULES]
    cases += [(s, "automatic", 5, 12, 31337) for s in ("euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral")]
    for sampler_name, schedule, steps, seed, ensd in cases:
        kind = a1111.DEFAULT_SCHEDULE[sampler_name] if schedule == "automatic" else schedule
        discard = sampler_name in ("dpm_2", "dpm_2_ancestral")
        n = steps + 1 if discard else steps
        if kind == "uniform":
            ref_sigmas = wrap.get_sigmas(n)
        else:
            ref_sigmas = k_schedules[kind](n, wrap.sigmas[0].item(), wrap.sigmas[-1].item())
        if discard:
            ref_sigmas = torch.cat([ref_sigmas[:-2], ref_sigmas[-1:]])
        ours_sigmas = a1111.a1111_sigmas(sampler_name, schedule, steps, table)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * ref_sigmas[0]
        g = torch.Generator().manual_seed(seed + ensd)
        kwargs = {}
        if "ancestral" in sampler_name:
            kwargs["noise_sampler"] = lambda _s, _t, g=g: torch.randn(shape, generator=g)
        with torch.no_grad():
            ref = k_samplers[sampler_name](reference_denoiser, x, ref_sigmas, disable=True, **kwargs)
            ours = a1111.sample(ours_denoiser, sampler_name, ours_sigmas, seed, shape, ensd=ensd)
        results.append({
            "sampler": sampler_name, "schedule": schedule, "steps": steps, "ensd": ensd,
            "sigmas_equal": bool(torch.equal(ref_sigmas, ours_sigmas)),
            "max_diff": float((ref - ours).abs().max()), "scale": float(ref.abs().max()),
            "identical": bool(torch.equal(ref, ours)),
        })  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
