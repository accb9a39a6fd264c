"""ComfyUI's prompt handling for SD-1: weights, 77-token rows, and how weighted rows are mixed.

``(text)`` multiplies the weight by 1.1 and ``(text:w)`` sets it, nested; ``\\(`` escapes.
Each weighted segment is tokenized whole (CLIP BPE, lower-cased); segments of 8 tokens or
more may be split across rows, shorter ones move to the next row, which is padded with the
end token. With any weight other than 1, an empty prompt is encoded beside the rows and each
weighted token becomes ``(z - z_empty) * w + z_empty``; rows are joined along the tokens.
"""

from __future__ import annotations

from typing import Any

__all__ = ["encode_prompt", "token_weights", "tokenize"]

START, END = 49406, 49407
MAX_LENGTH = 77
MAX_WORD_LENGTH = 8


def _parse_parentheses(text: str) -> list[str]:
    result: list[str] = []
    current, level = "", 0
    for ch in text:
        if ch == "(":
            if level == 0:
                if current:
                    result.append(current)
                current = "("
            else:
                current += ch
            level += 1
        elif ch == ")":
            level -= 1
            if level == 0:
                result.append(current + ")")
                current = ""
            else:
                current += ch
        else:
            current += ch
    if current:
        result.append(current)
    return result


def token_weights(text: str, weight: float = 1.0) -> list[tuple[str, float]]:
    """Segments of ``text`` with their weights, by ComfyUI's rules."""
    out: list[tuple[str, float]] = []
    for part in _parse_parentheses(text):
        w = weight
        if len(part) >= 2 and part[0] == "(" and part[-1] == ")":
            inner = part[1:-1]
            colon = inner.rfind(":")
            w *= 1.1
            if colon > 0:
                try:
                    w = float(inner[colon + 1 :])
                    inner = inner[:colon]
                except ValueError:
                    pass
            out += token_weights(inner, w)
        else:
            out.append((part, weight))
    return out


def tokenize(text: str, tokenizer: Any) -> list[list[tuple[int, float]]]:
    """77-token rows of (token, weight), as ComfyUI's SD-1 tokenizer builds them."""
    text = text.replace("\\)", "\0\1").replace("\\(", "\0\2")
    groups: list[list[tuple[int, float]]] = []
    for segment, weight in token_weights(text, 1.0):
        segment = segment.replace("\0\1", ")").replace("\0\2", "(")
        if segment == "":
            continue
        ids = tokenizer(segment)["input_ids"][1:-1]
        groups.append([(t, weight) for t in ids])
    rows: list[list[tuple[int, float]]] = []
    row: list[tuple[int, float]] = [(START, 1.0)]
    rows.append(row)
    for group in groups:
        large = len(group) >= MAX_WORD_LENGTH
        while group:
            if len(group) + len(row) > MAX_LENGTH - 1:
                room = MAX_LENGTH - len(row) - 1
                if large:
                    row.extend(group[:room])
                    row.append((END, 1.0))
                    group = group[room:]
                else:
                    row.append((END, 1.0))
                    row.extend([(END, 1.0)] * room)
                row = [(START, 1.0)]
                rows.append(row)
            else:
                row.extend(group)
                group = []
    row.append((END, 1.0))
    row.extend([(END, 1.0)] * (MAX_LENGTH - len(row)))
    return rows


def encode_prompt(model: Any, text: str, tokenizer: Any, layer: int = -1) -> Any:
    """The conditioning ComfyUI's CLIPTextEncode gives for ``text``: [1, 77 * rows, 768]."""
    import torch

    rows = tokenize(text, tokenizer)
    weighted = any(w != 1.0 for r in rows for _, w in r)
    batch = [[t for t, _ in r] for r in rows]
    longest = max(len(r) for r in rows)
    if weighted:
        batch.append([START, END] + [END] * (longest - 2))
    out = model.encode_tokens(torch.tensor(batch), layer)
    parts = []
    for k, r in enumerate(rows):
        z = out[k : k + 1]
        if weighted:
            z_empty = out[-1]
            for j, (_, w) in enumerate(r):
                if w != 1.0:
                    z[0][j] = (z[0][j] - z_empty[j]) * w + z_empty[j]
        parts.append(z)
    return torch.cat(parts, dim=-2)
