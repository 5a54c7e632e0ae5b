"""The reference implementation's way of generating a LoRA, re-expressed on a `T2LModel`'s own modules.

SakanaAI/text-to-lora's `gen_lora` takes one description at a time and, for each target module, runs the trunk once
on a batch of all layers (`_hypernet_forward`). This module reproduces that schedule (Python loops over descriptions
and modules, a concatenated input per module) with the same weights, so the benchmark compares schedules, not models.
"""

from __future__ import annotations

import torch

from peft_t2l import T2LModel


@torch.inference_mode()
def per_module_loop(
    model: T2LModel, task_embeddings: torch.Tensor
) -> list[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """`[B, E]` -> for each description, {module: (A [L, r, in], B [L, out, r])}, one module forward at a time."""
    c = model.config
    layers = torch.arange(c.num_layers)
    rank = c.lora_rank
    out = []
    for emb in task_embeddings.to(model.dtype):  # the reference generates one description at a time
        task = model.task_encoder(emb[None])  # [1, D/2]
        lora = {}
        for i, m in enumerate(c.target_modules):
            depth = model.layer_depth_encoder(layers)  # [L, D/4]
            mtype = model.layer_type_encoder(torch.tensor([i])).expand(c.num_layers, -1)  # [L, D/4]
            x = model.mlp1(model.mixer(torch.cat([task.expand(c.num_layers, -1), depth, mtype], dim=-1)))  # [L, D]
            i_f, o_f = c.in_features[m], c.out_features[m]
            if c.head == "L":
                y = model.heads[m](model.mlp3(model.mlp2(x)))  # [L, r*(in+out)]
                a, b = y[:, : rank * i_f].reshape(-1, rank, i_f), y[:, rank * i_f :].reshape(-1, rank, o_f)
            else:
                parts = []
                for emb_ab, n in ((model.out_emb[m].A, i_f), (model.out_emb[m].B, o_f)):
                    h = model.mlp2(x + model.out_emb_norm(emb_ab))  # [L, D]
                    if c.head == "S":
                        h = h[:, None, :] + model.mlp2(model.pos_emb(torch.arange(rank)))  # [L, r, D]
                    parts.append(model.heads[m](model.mlp3(h)).reshape(c.num_layers, rank, -1)[..., :n])
                a, b = parts
            lora[m] = (a, b.transpose(1, 2))
        out.append(lora)
    return out


@torch.inference_mode()
def heads_only(model: T2LModel, batch: int) -> None:
    """Only the head GEMMs of a forward for `batch` descriptions, on random inputs of the same shapes.

    The heads hold almost all of the weights and FLOPs; this isolates how fast the matmul library runs them at
    these shapes (30-ish rows per description and module), which bounds the whole forward from below.
    """
    c = model.config
    per_row = {"L": 1, "M": 2, "S": 2 * c.lora_rank}[c.head]
    h = torch.randn(batch * c.num_layers * per_row, c.head_in_size, dtype=model.dtype)
    for m in c.target_modules:
        if c.head == "L":
            model.heads[m](h)
        else:
            half = h.shape[0] // 2
            model._shared_head(m, h[:half], c.in_features[m])
            model._shared_head(m, h[half:], c.out_features[m])
