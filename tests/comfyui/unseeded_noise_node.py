"""A ComfyUI custom node for seedlock's tests: adds noise drawn from the OS's entropy, with no seed.

Installed into the test server only; ``comfy strip`` must name it as the pass that is not seedable.
"""

import numpy as np
import torch


class SeedlockUnseededNoise:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "amount": ("FLOAT", {"default": 0.05, "min": 0.0, "max": 1.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "apply"
    CATEGORY = "image/postprocessing"

    def apply(self, image, amount):
        rng = np.random.default_rng()  # fresh OS entropy every call: the bug this node stands for
        noise = torch.from_numpy(rng.standard_normal(tuple(image.shape)).astype(np.float32))
        return ((image + amount * noise).clamp(0, 1),)


NODE_CLASS_MAPPINGS = {"SeedlockUnseededNoise": SeedlockUnseededNoise}
