"""Converting reference (SakanaAI/text-to-lora) checkpoints: the converted T2LModel writes the reference's LoRA.

The checkpoints are written here in the reference's layout (key names and shapes of its HyperModulator state_dict,
args.yaml, adapter_config.json), and the expected LoRA comes from a per-module re-implementation of the reference's
math written below with plain tensor ops, independent of peft_t2l's modules.
"""

import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
import yaml
from transformers import AutoModel

from peft_t2l.convert import ClsTokenEncoder, add_full_stop, convert_sakana_checkpoint, read_reference_checkpoint

MODULES = {"q_proj": (24, 24), "v_proj": (24, 8)}  # name -> (in_features, out_features), in adapter_config order
LAYERS, RANK, LATENT, HEAD_IN, EMB = 3, 4, 16, 20, 12


def _lin(g, out_f, in_f, prefix, sd, bias=True):
    sd[f"{prefix}.weight"] = torch.randn(out_f, in_f, generator=g) / math.sqrt(in_f)
    if bias:
        sd[f"{prefix}.bias"] = torch.randn(out_f, generator=g) * 0.1


def _ln(g, size, prefix, sd):
    sd[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(size, generator=g)
    sd[f"{prefix}.bias"] = 0.1 * torch.randn(size, generator=g)


def reference_state_dict(head: str, *, learned_pos: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the reference HyperModulator's key names and shapes."""
    g, sd, d = torch.Generator().manual_seed(seed), {}, LATENT
    _lin(g, d // 2, EMB, "task_encoder.mlp.0", sd)
    _ln(g, d // 2, "task_encoder.mlp.1", sd)
    sd["layer_depth_encoder.0.weight"] = torch.randn(LAYERS, d // 4, generator=g)
    _ln(g, d // 4, "layer_depth_encoder.1", sd)
    sd["layer_type_encoder.0.weight"] = torch.randn(len(MODULES), d // 4, generator=g)
    _ln(g, d // 4, "layer_type_encoder.1", sd)
    _lin(g, 4 * d, d, "mixer.1", sd)
    _lin(g, d, 4 * d, "mixer.4", sd)
    for block in ("mlp1.mlp", "mlp2.mlp"):
        _ln(g, d, f"{block}.0", sd)
        _lin(g, 4 * d, d, f"{block}.1", sd)
        _lin(g, d, 4 * d, f"{block}.4", sd)
    _ln(g, d, "mlp3.0", sd)
    _lin(g, 4 * d, d, "mlp3.1", sd)
    _lin(g, HEAD_IN, 4 * d, "mlp3.4", sd)
    for m, (i, o) in MODULES.items():
        size = RANK * (i + o) if head == "L" else RANK * max(i, o) if head == "M" else max(i, o)
        _lin(g, size, HEAD_IN, f"heads.{m}", sd)
        for buf in ("AB_offset", "mean_recon_target", "std_recon_target"):
            sd[f"{buf}.A.{m}"] = torch.zeros(LAYERS, RANK, i)
            sd[f"{buf}.B.{m}"] = torch.zeros(LAYERS, o, RANK)
        if head != "L":
            sd[f"out_emb.{m}.A"], sd[f"out_emb.{m}.B"] = torch.randn(d, generator=g), torch.randn(d, generator=g)
    if head != "L":
        _ln(g, d, "out_emb_norm", sd)
    if head == "S" and learned_pos:
        sd["pos_emb.0.weight"] = torch.randn(RANK, d, generator=g)
        _ln(g, d, "pos_emb.1", sd)
    return sd


def write_reference_dir(path, sd, **args):
    path.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path / "hypermod.pt")
    base = {"model_dir": "mistralai/Mistral-7B-Instruct-v0.2", "emb_model": "Alibaba-NLP/gte-large-en-v1.5",
            "exp_setup": "hyper_lora", "encoder_type": "linear", "training_task": "sft", "shared_AB_head": False,
            "autoreg_gen": False, "learnable_pos_emb": False, "hypernet_latent_size": LATENT, "head_in_size": HEAD_IN,
            "train_ds_names": ["lol_1", "lol_2", "lol_3"], "lr": 2.5e-5, "pred_z_score": False}  # fmt: skip
    (path / "args.yaml").write_text(yaml.safe_dump({**base, **args}))
    adapter = {"peft_type": "LORA", "r": RANK, "lora_alpha": 16, "use_rslora": True, "lora_dropout": 0.05,
               "target_modules": list(MODULES), "base_model_name_or_path": "mistralai/Mistral-7B-Instruct-v0.2"}  # fmt: skip
    (path / "adapter_config.json").write_text(json.dumps(adapter))
    return path


# ---- the reference's per-module math, re-derived with tensor ops ------------------------------------------------


def _layer_norm(x, sd, p):
    return F.layer_norm(x, x.shape[-1:], sd[f"{p}.weight"], sd[f"{p}.bias"])


def _linear(x, sd, p):
    return F.linear(x, sd[f"{p}.weight"], sd.get(f"{p}.bias"))


def _residual(x, sd, p):
    hidden = F.silu(_linear(_layer_norm(x, sd, f"{p}.0"), sd, f"{p}.1"))
    return x + F.silu(_linear(hidden, sd, f"{p}.4"))


def _mlp3(x, sd):
    return F.silu(_linear(F.silu(_linear(_layer_norm(x, sd, "mlp3.0"), sd, "mlp3.1")), sd, "mlp3.4"))


def _rotary(x):
    """Rotate pairs (j, j + D/2) at rank position p by p * 10000^(-2j/D)."""
    r, d = x.shape[-2], x.shape[-1]
    half = d // 2
    theta = torch.arange(r)[:, None].float() * 10000.0 ** (-torch.arange(half).float() * 2 / d)  # [r, D/2]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * theta.cos() - x2 * theta.sin(), x2 * theta.cos() + x1 * theta.sin()], dim=-1)


def reference_lora(sd, args, emb):
    """For one task embedding [E]: {module: (A [L, r, in], B [L, out, r])} as the reference's gen_lora computes."""
    task = _layer_norm(_linear(emb, sd, "task_encoder.mlp.0"), sd, "task_encoder.mlp.1")  # [D/2]
    out = {}
    for type_idx, (m, (i, o)) in enumerate(MODULES.items()):  # one forward per module, a batch of layers
        depth = _layer_norm(sd["layer_depth_encoder.0.weight"], sd, "layer_depth_encoder.1")  # [L, D/4]
        mtype = _layer_norm(sd["layer_type_encoder.0.weight"][type_idx], sd, "layer_type_encoder.1")
        x = torch.cat([task.expand(LAYERS, -1), depth, mtype.expand(LAYERS, -1)], dim=-1)
        x = F.silu(_linear(F.silu(_linear(x, sd, "mixer.1")), sd, "mixer.4"))
        x = _residual(x, sd, "mlp1.mlp")
        if not args.get("shared_AB_head"):
            y = _linear(_mlp3(_residual(x, sd, "mlp2.mlp"), sd), sd, f"heads.{m}")
            a, b = y[:, : RANK * i].reshape(LAYERS, RANK, i), y[:, RANK * i :].reshape(LAYERS, RANK, o)
        else:
            parts = []
            for key, n in (("A", i), ("B", o)):
                h = _residual(x + _layer_norm(sd[f"out_emb.{m}.{key}"], sd, "out_emb_norm"), sd, "mlp2.mlp")
                if args.get("autoreg_gen"):
                    h = h[:, None, :].expand(-1, RANK, -1)  # [L, r, D]
                    if args.get("learnable_pos_emb"):
                        pos = _layer_norm(sd["pos_emb.0.weight"], sd, "pos_emb.1")
                        h = h + _residual(pos, sd, "mlp2.mlp")
                    else:
                        h = _residual(_rotary(h), sd, "mlp2.mlp")
                y = _linear(_mlp3(h, sd), sd, f"heads.{m}").reshape(LAYERS, RANK, -1)
                parts.append(y[..., :n])
            a, b = parts
        b = b.transpose(1, 2)
        if args.get("training_task", "sft") == "sft":
            a, b = a + sd[f"AB_offset.A.{m}"], b + sd[f"AB_offset.B.{m}"]
        elif args.get("factorized") and args.get("pred_z_score"):
            a = a * (sd[f"std_recon_target.A.{m}"] + 1e-10) + sd[f"mean_recon_target.A.{m}"]
            b = b * (sd[f"std_recon_target.B.{m}"] + 1e-10) + sd[f"mean_recon_target.B.{m}"]
        elif not args.get("factorized"):
            a, b = a / math.sqrt(args["delta_w_scaling"]), b / math.sqrt(args["delta_w_scaling"])
        out[m] = (a, b)
    return out


def _check_same_lora(model, sd, args, n=3):
    emb = torch.randn(n, EMB, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        got = model(emb)
    for row in range(n):
        for m, (a, b) in reference_lora(sd, args, emb[row]).items():
            torch.testing.assert_close(got.lora_A[m][row], a, atol=2e-5, rtol=1e-4)
            torch.testing.assert_close(got.lora_B[m][row], b, atol=2e-5, rtol=1e-4)


VARIANTS = {
    "L": dict(),
    "M": dict(shared_AB_head=True),
    "S-learned": dict(shared_AB_head=True, autoreg_gen=True, learnable_pos_emb=True),
    "S-rotary": dict(shared_AB_head=True, autoreg_gen=True, learnable_pos_emb=False),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_converted_model_generates_the_reference_lora(tmp_path, variant):
    args = VARIANTS[variant]
    head = "S" if args.get("autoreg_gen") else "M" if args.get("shared_AB_head") else "L"
    sd = reference_state_dict(head, learned_pos=args.get("learnable_pos_emb", False))
    g = torch.Generator().manual_seed(3)
    for m in MODULES:  # a multi-task LoRA offset, as when training started from one
        sd[f"AB_offset.A.{m}"].normal_(generator=g)
        sd[f"AB_offset.B.{m}"].normal_(generator=g)
    model = convert_sakana_checkpoint(write_reference_dir(tmp_path / "ref", sd, **args))
    c = model.config
    assert (c.head, c.lora_rank, c.num_layers, c.latent_size, c.head_in_size) == (head, RANK, LAYERS, LATENT, HEAD_IN)
    assert c.rank_embedding == ("learned" if args.get("learnable_pos_emb") else "rotary")
    assert c.in_features == {m: s[0] for m, s in MODULES.items()} and c.out_features["v_proj"] == 8
    assert c.use_rslora and c.lora_alpha == 16 and c.use_output_affine
    _check_same_lora(model, sd, args)


def test_sft_checkpoint_without_offset_needs_no_affine_and_records_the_encoder(tmp_path):
    sd = reference_state_dict("L")
    model = convert_sakana_checkpoint(write_reference_dir(tmp_path / "ref", sd))
    c = model.config
    assert not c.use_output_affine
    assert (c.encoder_type, c.encoder_name_or_path, c.task_emb_size) == (
        "cls_token",
        "Alibaba-NLP/gte-large-en-v1.5",
        EMB,
    )
    assert c.encoder_trust_remote_code and c.add_full_stop and c.encoder_max_length == 8192
    assert c.base_model_name_or_path == "mistralai/Mistral-7B-Instruct-v0.2"
    assert c.module_paths["v_proj"] == "model.layers.{layer}.self_attn.v_proj"
    _check_same_lora(model, sd, {})


@pytest.mark.parametrize(
    "args",
    [
        dict(training_task="recon", factorized=True, pred_z_score=True),
        dict(training_task="recon", delta_w_scaling=400.0),
    ],
    ids=["z-score", "delta-w-scaling"],
)
def test_reconstruction_checkpoints_undo_their_target_scaling(tmp_path, args):
    args = {**args, "shared_AB_head": True}
    sd = reference_state_dict("M")
    g = torch.Generator().manual_seed(5)
    for m in MODULES:
        for part in ("A", "B"):
            sd[f"mean_recon_target.{part}.{m}"].normal_(generator=g)
            sd[f"std_recon_target.{part}.{m}"].uniform_(0.1, 2.0, generator=g)
    model = convert_sakana_checkpoint(write_reference_dir(tmp_path / "ref", sd, **args))
    assert model.config.use_output_affine
    _check_same_lora(model, sd, args)


def test_one_hot_checkpoint(tmp_path):
    sd = reference_state_dict("M")
    sd["task_encoder.mlp.0.weight"] = torch.randn(LATENT // 2, 3)
    model = convert_sakana_checkpoint(
        write_reference_dir(tmp_path / "ref", sd, shared_AB_head=True, use_one_hot_task_emb=True, emb_model="")
    )
    assert (model.config.encoder_type, model.config.task_names, model.config.task_emb_size) == (
        "one_hot",
        ["lol_1", "lol_2", "lol_3"],
        3,
    )


@pytest.mark.parametrize(
    "args, match",
    [
        (dict(encoder_type="vq"), "encoder_type='vq'"),
        (dict(autoreg_gen=True), "autoreg_gen=True"),
        (dict(exp_setup="hyper_vera"), "exp_setup='hyper_vera'"),
        (dict(training_task="recon", pred_z_score=True, factorized=False), "pred_z_score=True"),
    ],
)
def test_unsupported_variants_are_clear_errors(tmp_path, args, match):
    with pytest.raises(ValueError, match=match):
        convert_sakana_checkpoint(write_reference_dir(tmp_path / "ref", reference_state_dict("L"), **args))


class NotATensor:
    pass


def test_pickled_code_is_refused(tmp_path):
    sd = reference_state_dict("L")
    sd["payload"] = NotATensor()
    with pytest.raises(ValueError, match="never unpickles code"):
        read_reference_checkpoint(write_reference_dir(tmp_path / "ref", sd))
    with pytest.raises(FileNotFoundError, match="hypermod.pt"):
        read_reference_checkpoint(tmp_path)


def test_cli_writes_a_folder_that_automodel_loads(tmp_path):
    sd = reference_state_dict("M")
    src = write_reference_dir(tmp_path / "ref", sd, shared_AB_head=True)
    out = tmp_path / "converted"
    cmd = [sys.executable, "-m", "peft_t2l.convert", "sakana", str(src), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Converted a M head" in done.stdout
    assert {"config.json", "model.safetensors", "modeling_t2l.py", "README.md"} <= {p.name for p in out.iterdir()}
    _check_same_lora(AutoModel.from_pretrained(out).eval(), sd, {"shared_AB_head": True})


def test_cls_token_encoder_matches_the_reference_recipe(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "solve", "math", "problems", "."]
    (tmp_path / "vocab.txt").write_text("\n".join(words))
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    bert = BertModel(
        BertConfig(
            vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    ).eval()
    encoder = ClsTokenEncoder("tiny-bert", model=bert, tokenizer=tokenizer)
    got = encoder.encode(["solve math problems", "math"])
    with torch.no_grad():
        ids = tokenizer(["solve math problems.", "math."], return_tensors="pt", padding=True)
        cls = bert(**ids).last_hidden_state[:, 0]
    torch.testing.assert_close(got, F.normalize(cls, dim=-1) * 4.0)
    bert.save_pretrained(tmp_path / "enc")  # the way load_text_encoder builds it: from a folder or Hub id
    tokenizer.save_pretrained(tmp_path / "enc")
    torch.testing.assert_close(ClsTokenEncoder(str(tmp_path / "enc")).encode(["solve math problems", "math"]), got)
    assert add_full_stop("classify tweets ") == "classify tweets." and add_full_stop("what is 2+2?") == "what is 2+2?"
    # a converted config names this encoder: a model built from it must read descriptions with the same recipe
    # (load_text_encoder builds the CLS encoder, embed_descriptions adds the full stops)
    from peft_t2l import T2LConfig, T2LModel

    config = T2LConfig(
        encoder_type="cls_token", encoder_name_or_path=str(tmp_path / "enc"), task_emb_size=16, add_full_stop=True
    )
    torch.testing.assert_close(T2LModel(config).embed_descriptions(["solve math problems", "math"]), got)


def test_inference_fast_path_equals_the_differentiable_path(tmp_path):
    """In inference the mixer runs as summed projections with in-place activations; training mode concatenates."""
    sd = reference_state_dict("S", learned_pos=True)
    model = convert_sakana_checkpoint(
        write_reference_dir(tmp_path / "ref", sd, shared_AB_head=True, autoreg_gen=True, learnable_pos_emb=True)
    )
    emb = torch.randn(2, EMB)
    with torch.no_grad():
        fast = model(emb)
    for module in model.modules():  # training mode (concatenated grid, no in-place ops) without random masks
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    slow = model.train()(emb)
    assert slow.lora_A["q_proj"].requires_grad
    for m in MODULES:
        torch.testing.assert_close(fast.lora_A[m], slow.lora_A[m].detach(), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(fast.lora_B[m], slow.lora_B[m].detach(), atol=1e-5, rtol=1e-4)


def test_t2l_cli_mounts_convert_sakana(tmp_path):
    from peft_t2l.cli import main

    src = write_reference_dir(tmp_path / "ref", reference_state_dict("L"))
    assert main(["convert-sakana", str(src), str(tmp_path / "out"), "--dtype", "bfloat16"]) == 0
    assert AutoModel.from_pretrained(tmp_path / "out").dtype == torch.bfloat16


def test_converted_model_writes_a_peft_adapter_from_text(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "classify", "tweets", "."]
    (tmp_path / "vocab.txt").write_text("\n".join(words))
    torch.manual_seed(0)
    bert = BertModel(
        BertConfig(
            vocab_size=len(words), hidden_size=EMB, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24
        )
    )
    bert.save_pretrained(tmp_path / "gte")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "gte")
    sd = reference_state_dict("L")
    model = convert_sakana_checkpoint(
        write_reference_dir(tmp_path / "ref", sd), encoder_name_or_path=str(tmp_path / "gte")
    )
    c = model.config
    model.set_text_encoder(
        ClsTokenEncoder(c.encoder_name_or_path, max_length=c.encoder_max_length, full_stop=c.add_full_stop)
    )
    lora = model.generate_lora("classify tweets")
    emb = model.text_encoder.encode(["classify tweets"])[0]
    a, b = reference_lora(sd, {}, emb)["v_proj"]
    torch.testing.assert_close(
        lora.state_dict["base_model.model.model.layers.2.self_attn.v_proj.lora_A.weight"], a[2], atol=2e-5, rtol=1e-4
    )
    torch.testing.assert_close(
        lora.state_dict["base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight"], b[2], atol=2e-5, rtol=1e-4
    )
    assert lora.lora_config.use_rslora and lora.lora_config.r == RANK
