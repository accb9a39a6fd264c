"""CLIP BPE tokenisation, without torch, from the CLIP vocabulary seedlock ships.

Stable Diffusion pipelines tokenise with the Hugging Face ``CLIPTokenizer``: lower-case,
whitespace collapsed, the CLIP split pattern, then byte-level BPE over OpenAI's 49,152
merges. Unlike the original ftfy-based tokenizer it does not un-curl quotes, so a curly
quote is a different token. This module reproduces that tokenizer from ``bpe_simple_vocab_16e6.txt.gz`` (MIT, OpenAI; shipped as
package data with its licence in ``seedlock/diff/data``). ``SEEDLOCK_CLIP_VOCAB`` points at
another copy; an installed open_clip's copy is used when the packaged one was removed.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from seedlock.errors import MissingExtra

__all__ = ["CHUNK", "ClipTokenizer", "TokenDiff", "diff_tokens", "tokenizer"]

#: CLIP sees 77 positions: BOS + 75 tokens + EOS; A1111 splits longer prompts into 75-token chunks
CHUNK = 75
_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def vocab_path() -> Path:
    env = os.environ.get("SEEDLOCK_CLIP_VOCAB")
    if env and Path(env).is_file():
        return Path(env)
    packaged = Path(__file__).resolve().parent / "data" / "bpe_simple_vocab_16e6.txt.gz"
    if packaged.is_file():
        return packaged
    spec = importlib.util.find_spec("open_clip")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "bpe_simple_vocab_16e6.txt.gz"
        if p.is_file():
            return p
    exc = MissingExtra("tokens", "open-clip-torch")
    exc.message = (
        "the CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz) is missing from this installation; "
        "reinstall seedlock, or set SEEDLOCK_CLIP_VOCAB to a copy of the file"
    )
    raise exc


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class ClipTokenizer:
    """Byte-level BPE identical in ids to transformers' CLIPTokenizer (no ftfy)."""

    def __init__(self, path: Path) -> None:
        import regex

        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
        self.byte_encoder = _bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.decoder = {i: v for v, i in self.encoder.items()}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.pat = regex.compile(_PATTERN, regex.IGNORECASE)
        self.bos, self.eos = self.encoder["<|startoftext|>"], self.encoder["<|endoftext|>"]
        self._cache: dict[str, list[str]] = {}

    def _bpe(self, token: str) -> list[str]:
        if token in self._cache:
            return self._cache[token]
        word = [*token[:-1], token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, 1 << 30))
            if best not in self.ranks:
                break
            out: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self._cache[token] = word
        return word

    def tokens(self, text: str) -> list[str]:
        """BPE token strings (``</w>`` marks a word end), without BOS/EOS."""
        text = " ".join(text.split()).lower()
        out: list[str] = []
        for piece in self.pat.findall(text):
            mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            out.extend(self._bpe(mapped))
        return out

    def show(self, token: str) -> str:
        """A token as readable text with its id: ``"happy" #900``; partial UTF-8 shown as escapes."""
        if not hasattr(self, "_byte_decoder"):
            self._byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        end = token.endswith("</w>")
        raw = bytes(self._byte_decoder[c] for c in (token[:-4] if end else token))
        try:
            text = repr(raw.decode("utf-8"))
        except UnicodeDecodeError:  # part of a multi-byte character
            text = "<" + raw.hex(" ") + ">"
        return f"{text}{'' if end else '+'} #{self.encoder[token]}"

    def encode(self, text: str) -> list[int]:
        """Token ids with BOS and EOS, untruncated."""
        return [self.bos, *(self.encoder[t] for t in self.tokens(text)), self.eos]


@lru_cache(maxsize=1)
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer(vocab_path())


@dataclass(frozen=True)
class TokenDiff:
    a_count: int
    b_count: int
    removed: tuple[str, ...]
    added: tuple[str, ...]
    a_chunks: int
    b_chunks: int

    @property
    def crosses_chunk(self) -> bool:
        """One prompt needs more 75-token chunks than the other (A1111) or is truncated (diffusers)."""
        return self.a_chunks != self.b_chunks

    def to_dict(self) -> dict[str, object]:
        return {
            "a_tokens": self.a_count,
            "b_tokens": self.b_count,
            "removed": list(self.removed),
            "added": list(self.added),
            "a_chunks": self.a_chunks,
            "b_chunks": self.b_chunks,
            "crosses_chunk_boundary": self.crosses_chunk,
            "over_75_a": self.a_count > CHUNK,
            "over_75_b": self.b_count > CHUNK,
        }


#: prompts longer than this (characters, each) get no token view: CLIP reads 77 tokens,
#: A1111 a few 75-token chunks, and a token diff of megabytes would only cost time
MAX_TOKEN_VIEW_CHARS = 20_000
#: at most this many removed and added tokens are named
MAX_SHOWN = 200


def diff_tokens(a: str, b: str) -> TokenDiff:
    """Which CLIP tokens changed between two prompts, and whether either passes 75 tokens.

    Raises:
        ValueError: a prompt is longer than :data:`MAX_TOKEN_VIEW_CHARS` (the caller says so).
    """
    import difflib

    if max(len(a), len(b)) > MAX_TOKEN_VIEW_CHARS:
        raise ValueError(f"prompts over {MAX_TOKEN_VIEW_CHARS:,} characters get no token view")
    tok = tokenizer()
    ta, tb = tok.tokens(a), tok.tokens(b)
    # the common ends first: the matcher then sees only the changed middle
    lo = 0
    while lo < min(len(ta), len(tb)) and ta[lo] == tb[lo]:
        lo += 1
    hi = 0
    while hi < min(len(ta), len(tb)) - lo and ta[-1 - hi] == tb[-1 - hi]:
        hi += 1
    mid_a, mid_b = ta[lo : len(ta) - hi], tb[lo : len(tb) - hi]
    removed: list[str] = []
    added: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False).get_opcodes():
        if op != "equal":
            removed.extend(mid_a[i1:i2])
            added.extend(mid_b[j1:j2])
    removed, added = removed[:MAX_SHOWN], added[:MAX_SHOWN]

    def chunks(n: int) -> int:
        return max(1, -(-n // CHUNK))

    return TokenDiff(
        len(ta),
        len(tb),
        tuple(tok.show(t) for t in removed),
        tuple(tok.show(t) for t in added),
        chunks(len(ta)),
        chunks(len(tb)),
    )
