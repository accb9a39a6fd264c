"""AUTOMATIC1111's sampling numerics: k-diffusion's samplers around a CompVis eps model.

What A1111 (and its forks) run, operation for operation, where it differs from ComfyUI's copy
of the same samplers (:mod:`seedlock.replay.comfy_sampling`):

- the sigma table is ``((1 - acp) / acp) ** 0.5`` computed in float32 from the model's float32
  ``alphas_cumprod`` (ComfyUI builds it in float64), and the UNet is fed the fractional
  timestep interpolated in log-sigma (``CompVisDenoiser`` with ``quantize=False``), not the
  nearest integer;
- ``Uniform`` (the default of Euler, Euler a, Heun) is the model's ``get_sigmas(steps)``;
  ``Karras``, ``Exponential`` and ``Polyexponential`` span the table's ``sigmas[0]`` ..
  ``sigmas[-1]``; DPM2 and DPM2 a take one step more and drop the next-to-last sigma;
- the initial noise is ``randn((1, 4, H/8, W/8))`` from a CPU generator seeded with the image's
  seed (``RNG: CPU``; seed + i in a batch), multiplied by ``sigmas[0]``;
- ancestral noise comes from the same per-image generator, re-seeded with seed + ENSD when an
  ENSD is set (``ImageRNG.next``); guidance batches cond and uncond through the UNet together
  and mixes the denoised predictions, ``uncond + (cond - uncond) * cfg``;
- the last ancestral step is an Euler step to ``sigma_down = 0`` (ComfyUI returns the
  denoised prediction there).

The test suite checks every sampler here against the ``k-diffusion`` package itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from seedlock.replay import comfy_sampling

__all__ = [
    "DEFAULT_SCHEDULE",
    "SAMPLERS",
    "SCHEDULES",
    "CompVisSchedule",
    "a1111_sigmas",
    "cfg_denoiser",
    "initial_noise",
    "sample",
]

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NoiseSource = Callable[[], torch.Tensor]


class CompVisSchedule:
    """The discrete schedule of an SD-1/SD-2 CompVis model as k-diffusion's ``DiscreteSchedule`` holds it."""

    def __init__(self, linear_start: float = 0.00085, linear_end: float = 0.012, timesteps: int = 1000) -> None:
        # ldm's register_schedule: float64 betas and cumprod, stored as a float32 buffer
        betas = torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).float()
        self.sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5
        self.log_sigmas = self.sigmas.log()

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        log_sigma = sigma.log()
        dists = log_sigma - self.log_sigmas[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas[low_idx], self.log_sigmas[high_idx]
        w = ((low - log_sigma) / (low - high)).clamp(0, 1)
        return ((1 - w) * low_idx + w * high_idx).view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]).exp()

    def get_sigmas(self, n: int) -> torch.Tensor:
        t = torch.linspace(len(self.sigmas) - 1, 0, n)
        return _append_zero(self.t_to_sigma(t))


def _append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


def _karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def _exponential(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def _polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    ramp = torch.linspace(1, 0, n) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


SCHEDULES = ("uniform", "karras", "exponential", "polyexponential")
#: what ``Schedule type: Automatic`` means for each sampler
DEFAULT_SCHEDULE = {
    "euler": "uniform",
    "euler_ancestral": "uniform",
    "heun": "uniform",
    "dpm_2": "karras",
    "dpm_2_ancestral": "karras",
    "dpmpp_2s_ancestral": "karras",
    "dpmpp_2m": "karras",
}
_DISCARD_PENULTIMATE = frozenset({"dpm_2", "dpm_2_ancestral"})


def a1111_sigmas(sampler: str, schedule: str | None, steps: int, table: CompVisSchedule) -> torch.Tensor:
    """The sigmas A1111 hands the sampler (``KDiffusionSampler.get_sigmas``)."""
    kind = DEFAULT_SCHEDULE[sampler] if schedule in (None, "automatic") else schedule
    discard = sampler in _DISCARD_PENULTIMATE
    n = steps + 1 if discard else steps
    lo, hi = table.sigmas[0].item(), table.sigmas[-1].item()
    if kind == "uniform":
        sigmas = table.get_sigmas(n)
    elif kind == "karras":
        sigmas = _karras(n, lo, hi)
    elif kind == "exponential":
        sigmas = _exponential(n, lo, hi)
    elif kind == "polyexponential":
        sigmas = _polyexponential(n, lo, hi)
    else:
        raise KeyError(kind)
    return torch.cat([sigmas[:-2], sigmas[-1:]]) if discard else sigmas


def cfg_denoiser(eps: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], table: CompVisSchedule,
                 cond: torch.Tensor, uncond: torch.Tensor, cfg: float) -> Denoiser:  # fmt: skip
    """A1111's ``CFGDenoiser`` over ``CompVisDenoiser``: ``eps(x_in, t, context)`` sees cond and uncond as
    one batch when their lengths (in 77-token chunks) agree, and one after the other when not."""

    def compvis(x: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        c_out = (-sigma)[:, None, None, None]
        c_in = (1 / (sigma**2 + 1.0**2) ** 0.5)[:, None, None, None]
        return x + eps(x * c_in, table.sigma_to_t(sigma), context) * c_out

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if cond.shape[1] == uncond.shape[1]:
            out = compvis(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([cond, uncond]))
            denoised_cond, denoised_uncond = out.chunk(2)
        else:
            denoised_cond, denoised_uncond = compvis(x, sigma, cond), compvis(x, sigma, uncond)
        return denoised_uncond + (denoised_cond - denoised_uncond) * cfg

    return denoise


def initial_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """``RNG: CPU``: the image's own seed on a CPU generator, float32."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)


def step_noise(shape: tuple[int, ...], seed: int, ensd: int = 0) -> NoiseSource:
    """The ancestral noise stream: the per-image generator, re-seeded with seed + ENSD when one is set.

    Without ENSD the stream restarts at the seed, so its first draw repeats the initial noise.
    """
    generator = torch.Generator("cpu").manual_seed(seed + ensd)
    return lambda: torch.randn(shape, generator=generator, dtype=torch.float32)


# -- samplers (k-diffusion 0.1.1, as A1111 calls them: no churn, eta 1, s_noise 1) -----------------
# The ancestral ones are A1111's own: ComfyUI's copies end on the denoised prediction and draw
# their noise by ComfyUI's rule.


def _to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    return (x - denoised) / sigma[..., None, None, None] if sigma.ndim else (x - denoised) / sigma


def _ancestral(sigma_from: torch.Tensor, sigma_to: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sigma_up = min(sigma_to, (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    return (sigma_to**2 - sigma_up**2) ** 0.5, sigma_up


def _euler_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseSource) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = _ancestral(sigmas[i], sigmas[i + 1])
        x = x + _to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise() * 1.0 * sigma_up
    return x


def _dpm_2_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseSource) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = _ancestral(sigmas[i], sigmas[i + 1])
        d = _to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = sigmas[i].log().lerp(sigma_down.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigmas[i])
            d_2 = _to_d(x_2, sigma_mid, model(x_2, sigma_mid * s_in))
            x = x + d_2 * (sigma_down - sigmas[i])
            x = x + noise() * 1.0 * sigma_up
    return x


def _sigma_fn(t: torch.Tensor) -> torch.Tensor:
    return t.neg().exp()


def _t_fn(sigma: torch.Tensor) -> torch.Tensor:
    return sigma.log().neg()


def _dpmpp_2s_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, noise: NoiseSource) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = _ancestral(sigmas[i], sigmas[i + 1])
        if sigma_down == 0:
            x = x + _to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _t_fn(sigmas[i]), _t_fn(sigma_down)
            r = 1 / 2
            h = t_next - t
            s = t + r * h
            x_2 = (_sigma_fn(s) / _sigma_fn(t)) * x - (-h * r).expm1() * denoised
            denoised_2 = model(x_2, _sigma_fn(s) * s_in)
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise() * 1.0 * sigma_up
    return x


Sampler = Callable[[Denoiser, torch.Tensor, torch.Tensor, NoiseSource], torch.Tensor]


def _noiseless(name: str) -> Sampler:
    """ComfyUI's copy of a k-diffusion sampler that draws no noise: the same arithmetic as A1111's."""
    fn = comfy_sampling.SAMPLERS[name]
    return lambda model, x, sigmas, _noise: fn(model, x, sigmas, 0, comfy_sampling.ModelSampling())


SAMPLERS: dict[str, Sampler] = {
    "euler": _noiseless("euler"),
    "euler_ancestral": _euler_ancestral,
    "heun": _noiseless("heun"),
    "dpm_2": _noiseless("dpm_2"),
    "dpm_2_ancestral": _dpm_2_ancestral,
    "dpmpp_2s_ancestral": _dpmpp_2s_ancestral,
    "dpmpp_2m": _noiseless("dpmpp_2m"),
}


def sample(model: Denoiser, sampler: str, sigmas: torch.Tensor, seed: int, shape: tuple[int, ...],
           ensd: int = 0) -> torch.Tensor:  # fmt: skip
    """One txt2img pass as A1111 runs it: the image's noise times ``sigmas[0]``, then the sampler."""
    x = initial_noise(shape, seed) * sigmas[0]
    with torch.no_grad():
        return SAMPLERS[sampler](model, x, sigmas, step_noise(shape, seed, ensd))
