"""A real ComfyUI server, driven: verify, replay, strip and lint the user's own workflow."""
