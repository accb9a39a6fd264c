"""Canonical (sampler, schedule) -> a diffusers scheduler, built with every key explicit.

The canonical pair is what :mod:`seedlock.samplers` makes of A1111, ComfyUI, InvokeAI and
diffusers names alike, so one table serves all of them (docs/replay.md lists it).
Schedulers are always built from a pristine base config, never chained through
``from_config(pipe.scheduler.config)``, which silently carries options such as
``use_karras_sigmas`` from one scheduler to the next. The full effective config is
returned for the record, and a stored config rebuilds exactly that scheduler.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from seedlock.errors import UnmappedScheduler
from seedlock.replay.configs import SD1_SCHEDULER

#: canonical sampler -> (diffusers class, options)
SAMPLERS: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "dpmpp_3m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 3}),
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "plms": ("PNDMScheduler", {"skip_prk_steps": True}),
    "uni_pc": ("UniPCMultistepScheduler", {}),
    "deis": ("DEISMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}

#: canonical schedule -> options. None/automatic: the base config (SD-1.x's own "leading"
#: spacing, as diffusers ships it); normal/uniform (ComfyUI, pre-1.9 A1111): timesteps
#: spaced evenly from the last to the first, which diffusers calls "linspace"
SCHEDULES: Mapping[str, Mapping[str, Any]] = {
    "automatic": {},
    "normal": {"timestep_spacing": "linspace"},
    "uniform": {"timestep_spacing": "linspace"},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True, "timestep_spacing": "linspace"},
    "beta": {"use_beta_sigmas": True, "timestep_spacing": "linspace"},
    "sgm_uniform": {"timestep_spacing": "trailing"},
    "simple": {"timestep_spacing": "trailing"},
}

#: samplers that draw fresh noise at every step (need a seeded step-noise generator)
STOCHASTIC = frozenset({"euler_ancestral", "dpm_2_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde", "ddpm", "lcm"})


def scheduler_for(sampler: str | None, schedule: str | None,
                  base: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """(scheduler instance, its full effective config) for a canonical pair; ``base`` holds the
    family's own settings over SD-1.x's (SD-2 768-v: ``prediction_type``)."""
    import diffusers

    key = sampler or "euler"
    if key not in SAMPLERS:
        raise UnmappedScheduler(f"sampler {key!r} has no diffusers equivalent in seedlock's table")
    cls_name, options = SAMPLERS[key]
    sched = schedule or "automatic"
    if sched not in SCHEDULES:
        raise UnmappedScheduler(f"schedule {sched!r} has no diffusers equivalent in seedlock's table")
    extra = dict(SCHEDULES[sched])
    cls = getattr(diffusers, cls_name)
    params = inspect.signature(cls.__init__).parameters
    for name in extra:
        if name.startswith("use_") and name not in params:
            raise UnmappedScheduler(f"diffusers {cls_name} has no {sched!r} schedule ({name})")
    config = {**SD1_SCHEDULER, **(base or {}), **options, **extra}
    scheduler = cls.from_config(config)
    return scheduler, effective_config(scheduler)


#: flow-matching schedules (SD3, Flux): the shifted linear sigmas, or one of the sigma shapes
FLOW_SCHEDULES: Mapping[str, Mapping[str, Any]] = {
    "automatic": {},
    "normal": {},
    "simple": {},
    "sgm_uniform": {},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
}


def flow_scheduler_for(sampler: str | None, schedule: str | None, base: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The flow-matching Euler scheduler over a family's ``base`` config, and its effective config.

    SD3 and Flux are sampled with Euler on the flow's velocity; another sampler is refused
    by name rather than run as something it is not.
    """
    import diffusers

    if (sampler or "euler") != "euler":
        raise UnmappedScheduler(f"sampler {sampler!r}: SD3 and Flux models are sampled with flow-matching Euler only")
    sched = schedule or "automatic"
    if sched not in FLOW_SCHEDULES:
        raise UnmappedScheduler(f"schedule {sched!r} has no flow-matching equivalent in seedlock's table")
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler.from_config({**base, **FLOW_SCHEDULES[sched]})
    return scheduler, effective_config(scheduler)


def effective_config(scheduler: Any) -> dict[str, Any]:
    """Every key of the scheduler's config, plus its class; no hidden default markers."""
    cfg = {k: _plain(v) for k, v in dict(scheduler.config).items() if not k.startswith("_")}
    cfg["_class_name"] = type(scheduler).__name__
    return cfg


def scheduler_from_config(config: Mapping[str, Any]) -> Any:
    """Rebuild a scheduler from a stored effective config (every key passed explicitly)."""
    import diffusers

    # JSON has no infinities: canonical JSON writes them as strings ("-inf" for lambda_min_clipped)
    cfg = {k: float(v) if isinstance(v, str) and v in ("inf", "-inf", "nan") else v for k, v in config.items()}
    cls_name = cfg.pop("_class_name", None)
    cls = getattr(diffusers, str(cls_name), None)
    if cls is None or not hasattr(cls, "from_config"):
        raise UnmappedScheduler(f"stored scheduler class {cls_name!r} is not in this diffusers")
    return cls.from_config(cfg)


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
