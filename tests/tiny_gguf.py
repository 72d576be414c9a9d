"""A random two-layer llama GGUF (about 0.5 MB) that llama.cpp loads and streams tokens from.

The vocabulary is SentencePiece-style with byte fallback, so any prompt tokenizes. The weights are
random except for one trick: embedding dimension 0 carries a constant that no layer changes, and
the output rows of control and byte tokens point against it. The model therefore never samples an
end-of-generation token or a stray byte, and always streams readable words until ``max_tokens``.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

N_EMBD = 64
N_FF = 128
N_HEAD = 4
N_LAYER = 2
N_CTX = 4096

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_WORDS = (
    "the a an and or but is are was be to of in on at for with it this that you i we they "
    "he she time day hello yes no okay sure here there what when where why how good well "
    "very more some all one two three four five six seven eight nine ten weather today "
    "sun rain cold warm light sound voice word speak talk say tell ask answer question"
).split()


def _vocab() -> tuple[list[str], list[float], list[int], int]:
    """Tokens, scores and types; returns the id of the first normal token too."""
    T = gguf.TokenType
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [T.UNKNOWN, T.CONTROL, T.CONTROL, T.CONTROL, T.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [T.BYTE] * 256
    first_normal = len(tokens)
    pieces = ["▁"] + [f"▁{w}" for w in _WORDS] + list("abcdefghijklmnopqrstuvwxyz.,?!")
    tokens += pieces
    types += [T.NORMAL] * len(pieces)
    # SentencePiece prefers higher scores; longer pieces win over letters.
    scores = [0.0] * first_normal + [float(len(p)) - 100.0 for p in pieces]
    return tokens, scores, [int(t) for t in types], first_normal


def write_tiny_gguf(path: Path, *, seed: int = 0) -> Path:
    """Write the model to `path` and return it."""
    rng = np.random.default_rng(seed)
    tokens, scores, types, first_normal = _vocab()
    n_vocab = len(tokens)
    head_dim = N_EMBD // N_HEAD

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("vocable-tiny-random")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(4)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)

    embd = rand(n_vocab, N_EMBD, scale=1.0)
    embd[:, 0] = 8.0  # the constant direction the output head reads
    out = rand(n_vocab, N_EMBD, scale=1.0)
    out[:, 0] = 0.0
    out[:first_normal, 0] = -50.0  # control and byte tokens: never sampled
    writer.add_tensor("token_embd.weight", embd)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", out)
    for i in range(N_LAYER):
        attn_out = rand(N_EMBD, N_EMBD)
        ffn_down = rand(N_EMBD, N_FF)
        attn_out[0, :] = 0.0  # layers leave dimension 0 alone
        ffn_down[0, :] = 0.0
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", rand(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_k.weight", rand(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_v.weight", rand(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_output.weight", attn_out)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", rand(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", rand(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", ffn_down)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
