"""The benchmark cases: base-model shapes x head, as `T2LConfig`s built directly (random weights, nothing downloaded)."""

from __future__ import annotations

from dataclasses import dataclass

from peft_t2l import T2LConfig

SHAPES = {
    # name: (hidden size, layers, {module: (in, out)})
    "SmolLM2-135M": (576, 30, {"q_proj": (576, 576), "v_proj": (576, 192)}),
    "Mistral-7B": (4096, 32, {"q_proj": (4096, 4096), "v_proj": (4096, 1024)}),
}


@dataclass(frozen=True)
class Case:
    """One row group of the table: a base model's LoRA shapes and a head variant."""

    shapes: str
    head: str

    def config(self) -> T2LConfig:
        _, layers, modules = SHAPES[self.shapes]
        return T2LConfig(
            base_model_name_or_path=self.shapes,
            target_modules=list(modules),
            in_features={m: io[0] for m, io in modules.items()},
            out_features={m: io[1] for m, io in modules.items()},
            num_layers=layers,
            lora_rank=8,
            head=self.head,
            latent_size=128,
            head_in_size=512,
            task_emb_size=384,  # all-MiniLM-L6-v2
        )


def all_cases(shapes: list[str] | None = None, heads: str = "LMS") -> list[Case]:
    return [Case(s, h) for s in (shapes or list(SHAPES)) for h in heads]
