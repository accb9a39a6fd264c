"""ComfyUI's sampling numerics, operation for operation, so a ComfyUI image replays bit for bit.

What differs from diffusers and decides the bits (measured against a real ComfyUI on CPU):
the sigma table is built in float64 and kept in float32; the "normal" schedule interpolates
log-sigmas at ``linspace(t_max, t_min, steps)`` and the model sees the nearest integer
timestep; the initial noise is ``randn(seed)`` on the CPU scaled by ``sqrt(1 + sigma_max^2)``
(not by ``sigma_max``) when the run starts at full noise; guidance mixes the denoised
predictions, ``uncond + (cond - uncond) * cfg``; the sampler's latent is divided by the VAE
scale factor (and multiplied back on the way into a second pass); SaveImage truncates.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = [
    "DETERMINISTIC_SAMPLERS",
    "SAMPLERS",
    "SCHEDULERS",
    "ModelSampling",
    "basic_scheduler_sigmas",
    "exponential_sigmas",
    "karras_sigmas",
    "ksampler_sigmas",
    "prepare_noise",
    "sample",
]

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ModelSampling:
    """The discrete EPS schedule of SD-1/SD-2 checkpoints (1000 steps, scaled-linear betas)."""

    def __init__(self, linear_start: float = 0.00085, linear_end: float = 0.012, timesteps: int = 1000) -> None:
        betas = torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.sigmas = sigmas.float()
        self.log_sigmas = sigmas.log().float()
        self.sigma_data = 1.0

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        t = torch.clamp(timestep.float(), min=0, max=len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()

    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x / (_dims(sigma, x) ** 2 + self.sigma_data**2) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x - out * _dims(sigma, out)

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor, max_denoise: bool) -> torch.Tensor:
        s = _dims(sigma, noise)
        noise = noise * torch.sqrt(1.0 + s**2.0) if max_denoise else noise * s
        noise += latent
        return noise


def _dims(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return sigma.view(()) if sigma.nelement() == 1 else sigma.view(sigma.shape[:1] + (1,) * (like.ndim - 1))


# -- schedules ---------------------------------------------------------------------------------------


def _normal(ms: ModelSampling, steps: int, sgm: bool = False) -> torch.Tensor:
    start, end = ms.timestep(ms.sigma_max), ms.timestep(ms.sigma_min)
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(end)), 0, abs_tol=0.00001):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigs = [float(ms.sigma(ts)) for ts in timesteps]
    if append_zero:
        sigs += [0.0]
    return torch.FloatTensor(sigs)


def _simple(ms: ModelSampling, steps: int) -> torch.Tensor:
    ss = len(ms.sigmas) / steps
    return torch.FloatTensor([float(ms.sigmas[-(1 + int(x * ss))]) for x in range(steps)] + [0.0])


def _ddim_uniform(ms: ModelSampling, steps: int) -> torch.Tensor:
    x = 1
    if math.isclose(float(ms.sigmas[x]), 0, abs_tol=0.00001):
        steps += 1
        sigs: list[float] = []
    else:
        sigs = [0.0]
    ss = max(len(ms.sigmas) // steps, 1)
    while x < len(ms.sigmas):
        sigs += [float(ms.sigmas[x])]
        x += ss
    return torch.FloatTensor(sigs[::-1])


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """k-diffusion's Karras schedule (KarrasScheduler, and the karras scheduler over the model's range)."""
    ramp = torch.linspace(0, 1, steps)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (max_inv + ramp * (min_inv - max_inv)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def exponential_sigmas(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """k-diffusion's exponential schedule (ExponentialScheduler, and the exponential scheduler)."""
    sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), steps).exp()
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def _karras(ms: ModelSampling, steps: int, rho: float = 7.0) -> torch.Tensor:
    return karras_sigmas(steps, float(ms.sigma_min), float(ms.sigma_max), rho)


def _exponential(ms: ModelSampling, steps: int) -> torch.Tensor:
    return exponential_sigmas(steps, float(ms.sigma_min), float(ms.sigma_max))


def _beta(ms: ModelSampling, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    import numpy
    import scipy.stats

    total = len(ms.sigmas) - 1
    ts = 1 - numpy.linspace(0, 1, steps, endpoint=False)
    ts = numpy.rint(scipy.stats.beta.ppf(ts, alpha, beta) * total)
    sigs: list[float] = []
    last = -1.0
    for t in ts:
        if t != last:
            sigs += [float(ms.sigmas[int(t)])]
        last = t
    return torch.FloatTensor([*sigs, 0.0])


SCHEDULERS: dict[str, Callable[[ModelSampling, int], torch.Tensor]] = {
    "normal": _normal,
    "karras": _karras,
    "exponential": _exponential,
    "sgm_uniform": lambda ms, n: _normal(ms, n, sgm=True),
    "simple": _simple,
    "ddim_uniform": _ddim_uniform,
    "beta": _beta,
}

#: ComfyUI drops the second-to-last sigma for these (they evaluate the model at midpoints)
_DISCARD_PENULTIMATE = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


def ksampler_sigmas(ms: ModelSampling, sampler: str, scheduler: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """The sigmas ComfyUI's KSampler runs for these settings (denoise below 1 keeps the tail)."""

    def calc(n: int) -> torch.Tensor:
        discard = sampler in _DISCARD_PENULTIMATE
        sigmas = SCHEDULERS[scheduler](ms, n + 1 if discard else n)
        return torch.cat([sigmas[:-2], sigmas[-1:]]) if discard else sigmas

    if denoise > 0.9999:
        return calc(steps)
    if denoise <= 0.0:
        return torch.FloatTensor([])
    return calc(int(steps / denoise))[-(steps + 1) :]


def basic_scheduler_sigmas(ms: ModelSampling, scheduler: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """ComfyUI's BasicScheduler node: the schedule alone, with no sampler's penultimate-sigma rule."""
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.FloatTensor([])
        total = int(steps / denoise)
    return SCHEDULERS[scheduler](ms, total)[-(steps + 1) :]


def prepare_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """ComfyUI's initial noise: the CPU generator seeded with ``seed``, float32, whatever the device."""
    generator = torch.manual_seed(seed)
    return torch.randn(shape, dtype=torch.float32, layout=torch.strided, generator=generator, device="cpu")


# -- samplers (k-diffusion as ComfyUI ships it) -----------------------------------------------------


def _to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    return (x - denoised) / _dims(sigma, x)


def _step_noise(x: torch.Tensor, seed: int) -> Callable[[], torch.Tensor]:
    generator = torch.Generator(device=x.device)
    generator.manual_seed(seed)
    return lambda: torch.randn(x.size(), dtype=x.dtype, layout=x.layout, device=x.device, generator=generator)


def _euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i]
        denoised = model(x, sigma_hat * s_in)
        d = _to_d(x, sigma_hat, denoised)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


def _ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor) -> tuple[Any, Any]:
    sigma_up = min(sigma_to, (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def _euler_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    noise = _step_noise(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = _ancestral_step(sigmas[i], sigmas[i + 1])
        if sigma_down == 0:
            x = denoised
        else:
            d = _to_d(x, sigmas[i], denoised)
            x = x + d * (sigma_down - sigmas[i]) + noise() * 1.0 * sigma_up
    return x


def _heun(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i] * (0 + 1)
        denoised = model(x, sigma_hat * s_in)
        d = _to_d(x, sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = _to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in))
            x = x + ((d + d_2) / 2) * dt
    return x


def _dpm_2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i]
        denoised = model(x, sigma_hat * s_in)
        d = _to_d(x, sigma_hat, denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigma_hat)
            d_2 = _to_d(x_2, sigma_mid, model(x_2, sigma_mid * s_in))
            x = x + d_2 * (sigmas[i + 1] - sigma_hat)
    return x


def _dpmpp_2m(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])

    def sigma_fn(t: torch.Tensor) -> torch.Tensor:
        return t.neg().exp()

    def t_fn(sigma: torch.Tensor) -> torch.Tensor:
        return sigma.log().neg()

    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        t, t_next = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised
        else:
            r = (t - t_fn(sigmas[i - 1])) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


def _lcm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    noise = _step_noise(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] > 0:
            x = ms.noise_scaling(sigmas[i + 1], noise(), x, False)
    return x


def _brownian_noise(x: torch.Tensor, sigmas: torch.Tensor, seed: int) -> Callable[[Any, Any], torch.Tensor]:
    """ComfyUI's BrownianTreeNoiseSampler (cpu=True): torchsde's tree over [sigma_min, sigma_max]."""
    import torchsde

    t0, t1 = torch.as_tensor(sigmas[sigmas > 0].min()), torch.as_tensor(sigmas.max())
    tree = torchsde.BrownianTree(t0.detach().cpu(), torch.zeros_like(x).detach().cpu(), t1.detach().cpu(), entropy=seed)

    def noise(sigma: Any, sigma_next: Any) -> torch.Tensor:
        a, b = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        lo, hi, sign = (a, b, 1) if a < b else (b, a, -1)
        with warnings.catch_warnings():  # torchsde warns of float rounding at the interval's ends
            warnings.simplefilter("ignore")
            w = torch.stack([tree(lo.detach().cpu().float(), hi.detach().cpu().float())])
        w = w.to(device=lo.device, dtype=lo.dtype) * (1 * sign)
        return w[0] / (b - a).abs().sqrt()

    return noise


def _dpmpp_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    s_noise, r = 1.0, 1 / 2  # eta 1: its products are exact
    noise = _brownian_noise(x, sigmas, seed)
    s_in = x.new_ones([x.shape[0]])

    def sigma_fn(lam: torch.Tensor) -> torch.Tensor:
        return lam.neg().exp()

    def lambda_fn(sigma: torch.Tensor) -> torch.Tensor:
        return sigma.log().neg()

    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = lambda_fn(sigmas[i]), lambda_fn(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_s_1 = lambda_s + r * h
        fac = 1 / (2 * r)
        sigma_s_1 = sigma_fn(lambda_s_1)
        alpha_s = sigmas[i] * lambda_s.exp()
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()
        sd, su = _ancestral_step(lambda_s.neg().exp(), lambda_s_1.neg().exp())
        h_ = sd.log().neg() - lambda_s
        x_2 = (alpha_s_1 / alpha_s) * (-h_).exp() * x - alpha_s_1 * (-h_).expm1() * denoised
        x_2 = x_2 + alpha_s_1 * noise(sigmas[i], sigma_s_1) * s_noise * su
        denoised_2 = model(x_2, sigma_s_1 * s_in)
        sd, su = _ancestral_step(lambda_s.neg().exp(), lambda_t.neg().exp())
        h_ = sd.log().neg() - lambda_s
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * (-h_).exp() * x - alpha_t * (-h_).expm1() * denoised_d
        x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * s_noise * su
    return x


def _dpmpp_2m_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    eta, s_noise = 1.0, 1.0
    noise = _brownian_noise(x, sigmas, seed)
    s_in = x.new_ones([x.shape[0]])
    old_denoised: torch.Tensor | None = None
    h: torch.Tensor | None = None
    h_last: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = sigmas[i].log().neg(), sigmas[i + 1].log().neg()
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if old_denoised is not None and h_last is not None:
                r = h_last / h
                x = x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (denoised - old_denoised)
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


def _uni_pc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    from seedlock.replay.comfy_unipc import sample_unipc

    return sample_unipc(model, x, sigmas, "bh1")


def _uni_pc_bh2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, seed: int, ms: ModelSampling) -> torch.Tensor:
    from seedlock.replay.comfy_unipc import sample_unipc

    return sample_unipc(model, x, sigmas, "bh2")


SAMPLERS: dict[str, Callable[[Denoiser, torch.Tensor, torch.Tensor, int, ModelSampling], torch.Tensor]] = {
    "euler": _euler,
    "euler_ancestral": _euler_ancestral,
    "heun": _heun,
    "dpm_2": _dpm_2,
    "dpmpp_2m": _dpmpp_2m,
    "lcm": _lcm,
    "ddim": _euler,  # ComfyUI's ddim is euler (its inpaint noise is drawn but unused without a mask)
    "dpmpp_sde": _dpmpp_sde,
    "dpmpp_2m_sde": _dpmpp_2m_sde,
    "uni_pc": _uni_pc,
    "uni_pc_bh2": _uni_pc_bh2,
}
#: samplers without per-step noise: bit-identical on any device
DETERMINISTIC_SAMPLERS = frozenset({"euler", "heun", "dpm_2", "dpmpp_2m", "ddim", "uni_pc", "uni_pc_bh2"})


def sample(
    model: Denoiser,
    ms: ModelSampling,
    sampler: str,
    sigmas: torch.Tensor,
    noise: torch.Tensor,
    latent: torch.Tensor,
    seed: int,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Run one KSampler pass from ``latent`` (already multiplied by the VAE scale factor)."""
    if len(sigmas) <= 1:
        return latent
    max_sigma, first = float(ms.sigma_max), float(sigmas[0])
    max_denoise = math.isclose(max_sigma, first, rel_tol=1e-05) or first > max_sigma
    x = ms.noise_scaling(sigmas[0], noise, latent, max_denoise)
    if on_step is None:
        return SAMPLERS[sampler](model, x, sigmas, seed, ms)
    calls = [0]

    def traced(xx: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        out = model(xx, sigma)
        on_step(calls[0], out)
        calls[0] += 1
        return out

    return SAMPLERS[sampler](traced, x, sigmas, seed, ms)
