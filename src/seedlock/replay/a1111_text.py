"""A1111's prompt encoding: ``(emphasis)`` weights, 75-token chunks, and the mean-restoring multiply.

- ``parse_prompt_attention`` reads ``(a)`` as x1.1, ``[a]`` as /1.1, ``(a:1.3)`` as x1.3, ``\\(``
  as a literal bracket, ``BREAK`` as a chunk break, and closes unbalanced brackets at the end;
  runs of equal weight are merged (A1111's ``modules/prompt_parser.py``).
- Each part is tokenized without special tokens and packed into chunks of 75; when a chunk fills
  up and a comma lies within its last 20 tokens, the text after the comma moves to the next chunk.
  Chunks are padded with the end token and framed by start and end tokens (77 positions).
- Each chunk is encoded (the last layer, or with clip skip N the N-th from last, then the final
  layer norm); the hidden states are multiplied by their tokens' weights and rescaled so their
  mean is what it was before; chunks are concatenated along the sequence.

Prompt editing (``[from:to:when]``) and alternation (``[a|b]``) change the prompt during sampling
and are refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seedlock.errors import ReplayRefused

__all__ = ["CHUNK", "Chunk", "chunk_tokens", "encode_prompt", "parse_prompt_attention"]

_ATTENTION = re.compile(
    r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:
""",
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
#: ``[from:to:when]``, ``[to:when]``, ``[a|b]``: prompts that change while sampling
_SCHEDULED = re.compile(r"(?<!\\)\[[^\[\]]*(?::[^\[\]]*:\s*[\d.]+\s*|:\s*[\d.]+\s*|\|[^\[\]]*)(?<!\\)\]")
CHUNK = 75
COMMA_BACKTRACK = 20


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """(text, weight) runs, as A1111's parser gives them (``BREAK`` as ``("BREAK", -1)``)."""
    res: list[list[Any]] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for m in _ATTENTION.finditer(text):
        part, weight = m.group(0), m.group(1)
        if part.startswith("\\"):
            res.append([part[1:], 1.0])
        elif part == "(":
            round_brackets.append(len(res))
        elif part == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), float(weight))
        elif part == ")" and round_brackets:
            multiply_range(round_brackets.pop(), 1.1)
        elif part == "]" and square_brackets:
            multiply_range(square_brackets.pop(), 1 / 1.1)
        else:
            for i, piece in enumerate(_BREAK.split(part)):
                if i > 0:
                    res.append(["BREAK", -1])
                res.append([piece, 1.0])
    for pos in round_brackets:
        multiply_range(pos, 1.1)
    for pos in square_brackets:
        multiply_range(pos, 1 / 1.1)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return [(str(t), float(w)) for t, w in res]


@dataclass
class Chunk:
    """77 token ids (start, 75, end) and each position's weight."""

    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)


def chunk_tokens(text: str, tokenize: Callable[[list[str]], list[list[int]]], *, start: int, end: int,
                 comma: int) -> list[Chunk]:  # fmt: skip
    """A1111's ``tokenize_line``: the prompt as 77-position chunks with their weights."""
    if _SCHEDULED.search(text):
        raise ReplayRefused("the prompt edits itself while sampling ([from:to:when] or [a|b]), which is not mirrored")
    parsed = parse_prompt_attention(text)
    tokenized = tokenize([t for t, _ in parsed])
    chunks: list[Chunk] = []
    chunk = Chunk()
    last_comma = -1

    def next_chunk() -> None:
        nonlocal chunk, last_comma
        pad = CHUNK - len(chunk.tokens)
        if pad > 0:
            chunk.tokens += [end] * pad
            chunk.multipliers += [1.0] * pad
        chunk.tokens = [start, *chunk.tokens, end]
        chunk.multipliers = [1.0, *chunk.multipliers, 1.0]
        last_comma = -1
        chunks.append(chunk)
        chunk = Chunk()

    for tokens, (part, weight) in zip(tokenized, parsed, strict=True):
        if part == "BREAK" and weight == -1:
            next_chunk()
            continue
        for token in tokens:
            if token == comma:
                last_comma = len(chunk.tokens)
            elif len(chunk.tokens) == CHUNK and last_comma != -1 and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK:
                cut = last_comma + 1
                moved, moved_w = chunk.tokens[cut:], chunk.multipliers[cut:]
                chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                next_chunk()
                chunk.tokens, chunk.multipliers = moved, moved_w
            if len(chunk.tokens) == CHUNK:
                next_chunk()
            chunk.tokens.append(token)
            chunk.multipliers.append(weight)
    if chunk.tokens or not chunks:
        next_chunk()
    return chunks


def encode_prompt(text: str, tokenizer: Any, text_encoder: Any, clip_skip: int | None = None) -> Any:
    """The prompt's conditioning as A1111 computes it (SD-1 CLIP)."""
    import torch

    vocab = tokenizer.get_vocab()
    chunks = chunk_tokens(
        text,
        lambda texts: tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"],
        start=tokenizer.bos_token_id,
        end=tokenizer.eos_token_id,
        comma=vocab[",</w>"],
    )
    encoded = []
    for chunk in chunks:
        ids = torch.asarray([chunk.tokens])
        with torch.no_grad():
            out = text_encoder(input_ids=ids, output_hidden_states=True)
            if clip_skip and clip_skip > 1:
                z = text_encoder.text_model.final_layer_norm(out.hidden_states[-clip_skip])
            else:
                z = out.last_hidden_state
        weights = torch.asarray([chunk.multipliers], dtype=z.dtype)
        original_mean = z.mean()
        z = z * weights.reshape((*weights.shape, 1)).expand(z.shape)
        z = z * (original_mean / z.mean())
        encoded.append(z)
    return torch.hstack(encoded)
