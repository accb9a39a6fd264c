"""Sampler and scheduler names across tools, reduced to one canonical pair.

The canonical vocabulary is ComfyUI's (``dpmpp_2m`` + ``karras``) because it names
sampler and schedule separately and covers the most samplers. A1111's ``Automatic``
schedule is resolved to the sampler's default (metadata-formats.md §5.1), and legacy
combined labels (``DPM++ 2M Karras``) are split (§5.2). ``uniform`` means the model's
own discrete sigmas (A1111 ``Uniform``; what every pre-1.9 plain label used).
"""

from __future__ import annotations

import re

__all__ = ["A1111_SAMPLERS", "COMFY_SAMPLERS", "COMFY_SCHEDULERS", "SCHEDULES", "canonical_pair"]

#: A1111 display label -> canonical sampler
A1111_SAMPLERS: dict[str, str] = {
    "euler a": "euler_ancestral",
    "euler": "euler",
    "lms": "lms",
    "heun": "heun",
    "dpm2": "dpm_2",
    "dpm2 a": "dpm_2_ancestral",
    "dpm++ 2s a": "dpmpp_2s_ancestral",
    "dpm++ 2m": "dpmpp_2m",
    "dpm++ sde": "dpmpp_sde",
    "dpm++ 2m sde": "dpmpp_2m_sde",
    "dpm++ 2m sde heun": "dpmpp_2m_sde_heun",
    "dpm++ 3m sde": "dpmpp_3m_sde",
    "dpm fast": "dpm_fast",
    "dpm adaptive": "dpm_adaptive",
    "restart": "restart",
    "ddim": "ddim",
    "ddim cfg++": "ddim_cfgpp",
    "plms": "plms",
    "unipc": "uni_pc",
    "lcm": "lcm",
    "heunpp2": "heunpp2",
    "ipndm": "ipndm",
    "ipndm_v": "ipndm_v",
    "deis": "deis",
    "ddpm": "ddpm",
    "euler ancestral": "euler_ancestral",
}

#: A1111 >= 1.9 default schedule per sampler (what "Automatic" means)
_A1111_DEFAULT_SCHEDULE = {
    "dpmpp_2m": "karras",
    "dpmpp_sde": "karras",
    "dpmpp_2m_sde": "exponential",
    "dpmpp_2m_sde_heun": "exponential",
    "dpmpp_2s_ancestral": "karras",
    "dpmpp_3m_sde": "exponential",
    "dpm_2": "karras",
    "dpm_2_ancestral": "karras",
    "restart": "karras",
}

#: Aliases from A1111's paste table, NovelAI, InvokeAI 1-2.x, Easy Diffusion, diffusers
_ALIASES: dict[str, str] = {
    "k_euler_a": "euler_ancestral",
    "k_euler_ancestral": "euler_ancestral",
    "euler_a": "euler_ancestral",
    "k_euler": "euler",
    "k_lms": "lms",
    "k_heun": "heun",
    "k_dpm_2": "dpm_2",
    "k_dpm_2_a": "dpm_2_ancestral",
    "k_dpm_2_ancestral": "dpm_2_ancestral",
    "kdpm_2": "dpm_2",
    "kdpm_2_a": "dpm_2_ancestral",
    "k_dpmpp_2m": "dpmpp_2m",
    "k_dpmpp_sde": "dpmpp_sde",
    "k_dpmpp_2m_sde": "dpmpp_2m_sde",
    "k_dpmpp_2s_a": "dpmpp_2s_ancestral",
    "k_dpmpp_2s_ancestral": "dpmpp_2s_ancestral",
    "k_dpmpp_2m_sde_heun": "dpmpp_2m_sde_heun",
    "k_dpmpp_3m_sde": "dpmpp_3m_sde",
    "k_dpm_fast": "dpm_fast",
    "k_dpm_ad": "dpm_adaptive",
    "k_lcm": "lcm",
    "unipc": "uni_pc",
    "unipc_snr": "uni_pc",
    "unipc_tu": "uni_pc",
    "unipc_snr_2": "uni_pc",
    "unipc_tu_2": "uni_pc",
    "unipc_tq": "uni_pc",
    "dpm_solver_stability": "dpmpp_2m",
    "pndm": "plms",
    # diffusers scheduler classes (HF Spaces, seedlock's own records)
    "eulerdiscretescheduler": "euler",
    "eulerancestraldiscretescheduler": "euler_ancestral",
    "dpmsolvermultistepscheduler": "dpmpp_2m",
    "dpmsolversinglestepscheduler": "dpmpp_2s",
    "dpmsolversdescheduler": "dpmpp_sde",
    "kdpm2discretescheduler": "dpm_2",
    "kdpm2ancestraldiscretescheduler": "dpm_2_ancestral",
    "heundiscretescheduler": "heun",
    "lmsdiscretescheduler": "lms",
    "ddimscheduler": "ddim",
    "ddpmscheduler": "ddpm",
    "pndmscheduler": "plms",
    "unipcmultistepscheduler": "uni_pc",
    "deismultistepscheduler": "deis",
    "lcmscheduler": "lcm",
}

#: schedule label (any tool's spelling, lower-case) -> canonical schedule
SCHEDULES: dict[str, str] = {
    "uniform": "uniform",
    "karras": "karras",
    "exponential": "exponential",
    "polyexponential": "polyexponential",
    "sgm uniform": "sgm_uniform",
    "sgmuniform": "sgm_uniform",
    "sgm_uniform": "sgm_uniform",
    "kl optimal": "kl_optimal",
    "kl_optimal": "kl_optimal",
    "align your steps": "align_your_steps",
    "align_your_steps": "align_your_steps",
    "align your steps gits": "align_your_steps_gits",
    "align your steps 11": "align_your_steps_11",
    "align your steps 32": "align_your_steps_32",
    "simple": "simple",
    "normal": "normal",
    "ddim": "ddim_uniform",
    "ddim_uniform": "ddim_uniform",
    "beta": "beta",
    "turbo": "turbo",
    "linear_quadratic": "linear_quadratic",
    "linear quadratic": "linear_quadratic",
    "trailing": "sgm_uniform",
    "native": "uniform",
    "lcm": "lcm",
    "tcd": "tcd",
}

#: ComfyUI's sampler names (comfy.samplers.KSAMPLER_NAMES + ddim, uni_pc), as a KSampler widget holds them
COMFY_SAMPLERS = frozenset(
    {
        "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
        "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
        "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
        "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm",
        "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
        "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2",
        "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
    }
)  # fmt: skip
#: ComfyUI's scheduler names (comfy.samplers.SCHEDULER_NAMES), plus the AYS ones custom nodes add
COMFY_SCHEDULERS = frozenset(
    {
        "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic",
        "kl_optimal", "AYS SD1", "AYS SDXL", "AYS SVD", "GITS[coeff=1.2]", "OSS FLUX", "OSS Wan",
    }
)  # fmt: skip

_KNOWN_CANONICAL = (
    set(A1111_SAMPLERS.values())
    | set(_ALIASES.values())
    | {
        "euler_cfg_pp",
        "euler_ancestral_cfg_pp",
        "dpm_2",
        "dpmpp_sde_gpu",
        "dpmpp_2m_sde_gpu",
        "dpmpp_2m_sde_heun_gpu",
        "dpmpp_3m_sde_gpu",
        "dpmpp_2s_ancestral_cfg_pp",
        "dpmpp_2m_cfg_pp",
        "uni_pc_bh2",
        "res_multistep",
        "res_multistep_cfg_pp",
        "res_multistep_ancestral",
        "res_multistep_ancestral_cfg_pp",
        "gradient_estimation",
        "gradient_estimation_cfg_pp",
        "er_sde",
        "seeds_2",
        "seeds_3",
        "sa_solver",
        "sa_solver_pece",
        "ddim_v3",
        "nai_smea",
        "nai_smea_dyn",
        "dpmpp_2s",
    }
)

_SUFFIX = re.compile(
    r"^(?P<base>.+?)[ _](?P<sched>karras|exponential|polyexponential|sgm[ _]?uniform|simple|normal|"
    r"ddim_uniform|beta|kl[ _]optimal|trailing|align[ _]your[ _]steps|uniform|turbo|linear_quadratic)$",
    re.IGNORECASE,
)


def _sampler_id(label: str) -> str | None:
    key = label.strip().lower()
    if key in A1111_SAMPLERS:
        return A1111_SAMPLERS[key]
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("sample_"):  # 2023 ComfyUI graphs used k-diffusion function names
        key = key[len("sample_") :]
    key = key.replace(" ", "_").replace("++", "pp")
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _KNOWN_CANONICAL:
        return key
    return None


def canonical_pair(
    sampler: str | None,
    scheduler: str | None = None,
    *,
    style: str = "comfyui",
    version: str | None = None,
) -> tuple[str | None, str | None]:
    """Map a tool's sampler (and schedule) names to the canonical pair.

    Args:
        sampler: the sampler as the tool wrote it.
        scheduler: the schedule as the tool wrote it (None when the tool has no field).
        style: ``a1111`` applies A1111's rules (Automatic = sampler default, a missing
            schedule before 1.9 = uniform), ``invokeai`` reads the ``_k`` Karras suffix,
            anything else takes names as they come.
        version: A1111 ``Version`` value, used to resolve a missing schedule.

    Returns:
        ``(canonical_sampler, canonical_scheduler)``; an unknown sampler is kept
        lower-cased so that two equal unknown names still compare equal.
    """
    if not sampler:
        return None, SCHEDULES.get(scheduler.strip().lower()) if scheduler else None
    label = sampler.strip()
    sched_from_label: str | None = None
    if style == "invokeai" and label.endswith("_k"):
        label, sched_from_label = label[:-2], "karras"
    sid = _sampler_id(label)
    if sid is None:
        m = _SUFFIX.match(label)
        if m:
            sid = _sampler_id(m.group("base"))
            if sid is not None:
                sched_from_label = SCHEDULES.get(m.group("sched").lower().replace("_", " ")) or SCHEDULES.get(
                    m.group("sched").lower()
                )
    if sid is None:
        sid = label.lower()
    sched: str | None
    if scheduler and scheduler.strip():
        s = scheduler.strip().lower()
        if s == "automatic":
            sched = sched_from_label or _A1111_DEFAULT_SCHEDULE.get(sid, "uniform")
        else:
            sched = SCHEDULES.get(s, s.replace(" ", "_"))
    elif sched_from_label:
        sched = sched_from_label
    elif style == "a1111":
        # Before 1.9 a plain label meant the model's sigmas; 1.9+ always writes Schedule type.
        sched = "uniform" if not _is_19_or_later(version) else _A1111_DEFAULT_SCHEDULE.get(sid, "uniform")
    elif style == "invokeai":
        sched = "uniform"
    else:
        sched = None
    return sid, sched


def _is_19_or_later(version: str | None) -> bool:
    if not version:
        return False
    m = re.search(r"v?(\d+)\.(\d+)", version)
    if not m or version.startswith("f"):
        # Forge versions ("f2.0.1v1.10.1-...") carry the A1111 base after the 'v'
        m2 = re.search(r"v(\d+)\.(\d+)", version)
        if not m2:
            return False
        m = m2
    return (int(m.group(1)), int(m.group(2))) >= (1, 9)
