"""ComfyUI's ``uni_pc`` and ``uni_pc_bh2``: UniPC multistep (data prediction, order up to 3).

ComfyUI runs UniPC on sigmas through a "noise" model wrapper: the latent is divided by
``sqrt(1 + sigma_0^2)`` on the way in, the model is asked for eps at each sigma (its
input multiplied back by ``sqrt(sigma^2 + 1)``), the last sigma 0 becomes 0.001, and the
result is divided by ``alpha(0.001)``. The operations below keep ComfyUI's order, so
the float32 rounding, and with it every bit, is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _log_mean_coeff(sigma: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.log(1 / ((sigma * sigma) + 1))


def _alpha(t: torch.Tensor) -> torch.Tensor:
    return torch.exp(_log_mean_coeff(t))


def _std(t: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(1.0 - torch.exp(2.0 * _log_mean_coeff(t)))


def _lambda(t: torch.Tensor) -> torch.Tensor:
    log_mean_coeff = _log_mean_coeff(t)
    log_std = 0.5 * torch.log(1.0 - torch.exp(2.0 * log_mean_coeff))
    return log_mean_coeff - log_std


def _dims(v: torch.Tensor, dims: int) -> torch.Tensor:
    return v[(...,) + (None,) * (dims - 1)]


class _UniPC:
    def __init__(self, model: Denoiser, variant: str) -> None:
        self.model = model
        self.variant = variant

    def eps(self, x: torch.Tensor, sigma_in: torch.Tensor) -> torch.Tensor:
        sigma = sigma_in.view(sigma_in.shape[:1] + (1,) * (x.ndim - 1))
        scaled = x * ((sigma**2 + 1.0) ** 0.5)
        return (scaled - self.model(scaled, sigma_in)) / sigma

    def data(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.reshape((-1,)).shape[0] == 1:
            t = t.expand(x.shape[0])
        noise = self.eps(x, t)
        dims = x.dim()
        return (x - _dims(_std(t), dims) * noise) / _dims(_alpha(t), dims)

    def update(
        self,
        x: torch.Tensor,
        model_prev_list: list[torch.Tensor],
        t_prev_list: list[torch.Tensor],
        t: torch.Tensor,
        order: int,
        use_corrector: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if len(t.shape) == 0:
            t = t.view(-1)
        dims = x.dim()
        t_prev_0 = t_prev_list[-1]
        lambda_prev_0, lambda_t = _lambda(t_prev_0), _lambda(t)
        model_prev_0 = model_prev_list[-1]
        sigma_prev_0, sigma_t = _std(t_prev_0), _std(t)
        alpha_t = torch.exp(_log_mean_coeff(t))
        h = lambda_t - lambda_prev_0

        rks: list[torch.Tensor | float] = []
        d1s: list[torch.Tensor] = []
        for i in range(1, order):
            t_prev_i = t_prev_list[-(i + 1)]
            model_prev_i = model_prev_list[-(i + 1)]
            rk = ((_lambda(t_prev_i) - lambda_prev_0) / h)[0]
            rks.append(rk)
            d1s.append((model_prev_i - model_prev_0) / rk)
        rks.append(1.0)
        rks_t = torch.tensor(rks, device=x.device)

        hh = -h[0]
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        factorial_i = 1
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        rows, b = [], []
        for i in range(1, order + 1):
            rows.append(torch.pow(rks_t, i - 1))
            b.append(h_phi_k * factorial_i / b_h)
            factorial_i *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial_i
        r_mat = torch.stack(rows)
        b_t = torch.tensor(b, device=x.device)

        stacked = torch.stack(d1s, dim=1) if d1s else None
        rhos_p = None
        if stacked is not None:
            rhos_p = torch.tensor([0.5], device=b_t.device) if order == 2 else torch.linalg.solve(r_mat[:-1, :-1], b_t[:-1])
        rhos_c = None
        if use_corrector:
            rhos_c = torch.tensor([0.5], device=b_t.device) if order == 1 else torch.linalg.solve(r_mat, b_t)

        x_t_ = _dims(sigma_t / sigma_prev_0, dims) * x - _dims(alpha_t * h_phi_1, dims) * model_prev_0
        pred_res: torch.Tensor | int = 0
        if stacked is not None and rhos_p is not None:
            pred_res = torch.tensordot(stacked, rhos_p, dims=([1], [0]))
        x_t = x_t_ - _dims(alpha_t * b_h, dims) * pred_res
        model_t = None
        if rhos_c is not None:
            model_t = self.data(x_t, t)
            corr_res: torch.Tensor | int = 0
            if stacked is not None:
                corr_res = torch.tensordot(stacked, rhos_c[:-1], dims=([1], [0]))
            d1_t = model_t - model_prev_0
            x_t = x_t_ - _dims(alpha_t * b_h, dims) * (corr_res + rhos_c[-1] * d1_t)
        return x_t, model_t

    def sample(self, x: torch.Tensor, timesteps: torch.Tensor, order: int) -> torch.Tensor:
        steps = len(timesteps) - 1
        model_prev_list: list[torch.Tensor] = []
        t_prev_list: list[torch.Tensor] = []
        for step_index in range(steps):
            if step_index == 0:
                vec_t = timesteps[0].expand(x.shape[0])
                model_prev_list = [self.data(x, vec_t)]
                t_prev_list = [vec_t]
            elif step_index < order:
                vec_t = timesteps[step_index].expand(x.shape[0])
                x, model_x = self.update(x, model_prev_list, t_prev_list, vec_t, step_index)
                if model_x is None:
                    model_x = self.data(x, vec_t)
                model_prev_list.append(model_x)
                t_prev_list.append(vec_t)
            else:
                extra_final_step = 1 if step_index == steps - 1 else 0
                for step in range(step_index, step_index + 1 + extra_final_step):
                    vec_t = timesteps[step].expand(x.shape[0])
                    step_order = min(order, steps + 1 - step)
                    x, model_x = self.update(x, model_prev_list, t_prev_list, vec_t, step_order, step != steps)
                    for i in range(order - 1):
                        t_prev_list[i] = t_prev_list[i + 1]
                        model_prev_list[i] = model_prev_list[i + 1]
                    t_prev_list[-1] = vec_t
                    if step < steps:
                        if model_x is None:
                            model_x = self.data(x, vec_t)
                        model_prev_list[-1] = model_x
        return x


def sample_unipc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, variant: str = "bh1") -> torch.Tensor:
    """UniPC over ComfyUI's sigmas (the penultimate already dropped by the caller)."""
    timesteps = sigmas.clone()
    if sigmas[-1] == 0:
        timesteps[-1] = 0.001
    x = x / torch.sqrt(1.0 + timesteps[0] ** 2.0)
    order = min(3, len(timesteps) - 2)
    x = _UniPC(model, variant).sample(x, timesteps, order)
    x /= _alpha(timesteps[-1])
    return x
