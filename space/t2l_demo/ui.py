"""The page: describe a task and generate an adapter on the left, chat with and without it on the right."""

from __future__ import annotations

import gradio as gr

from .config import AppConfig
from .handlers import DemoHandlers
from .runtime import LoadedModels
from .session import Session

EXAMPLES = [
    "Solve grade-school math word problems step by step and end with the final number.",
    "Classify the sentiment of a movie review as positive or negative.",
    "Translate English sentences into French.",
    "Summarise a news article in one short sentence.",
    "Answer questions about Python code and explain error messages.",
]
SESSION_TTL_S = 2 * 3600  # a user's adapters are freed this long after their last action

UNTRAINED_BANNER = (
    "⚠️ **The hypernetwork is untrained.** No trained default T2L model is available yet, so this demo uses a "
    "randomly initialised one: its adapters are valid PEFT LoRAs and every step below is real, but they encode no "
    "skill. Set `T2L_MODEL` to a trained T2L model (folder or Hub id) to see descriptions change the answers."
)


def build_demo(models: LoadedModels, config: AppConfig | None = None) -> gr.Blocks:
    """The Gradio app around already-loaded models (tests pass tiny ones).

    Args:
        models: the shared models, loaded once per process (`load_models(config)` or `tiny_models()`).
        config: limits and settings (defaults: `AppConfig()`).

    Example:
        ```python
        >>> demo = build_demo(load_models(config), config)
        >>> demo.launch()
        ```
    """
    config = config or AppConfig()
    h = DemoHandlers(models, config)
    with gr.Blocks(title="Text-to-LoRA") as demo:
        session = gr.State(Session(), time_to_live=SESSION_TTL_S)
        gr.Markdown(
            "# Text-to-LoRA\nDescribe a task in words: a hypernetwork writes a LoRA adapter for "
            f"`{models.base_model_name}` in one forward pass. Then chat with the adapted model, next to the base model.\n\n"
            f"T2L model: `{models.t2l_name}` · device: `{models.device}` · answers up to {config.max_new_tokens} tokens"
        )
        if models.untrained:
            gr.Markdown(UNTRAINED_BANNER, elem_id="untrained-banner")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                description = gr.Textbox(
                    label="Task description",
                    placeholder="e.g. Classify the sentiment of a movie review as positive or negative.",
                    # measured: with a format-stating description (SNI definitions) the worst unseen task rose
                    # from 14.5 below the base model to 5.1 above it (docs/results.md, the definition column)
                    info=f"Say what the answer looks like (a label, a number, a sentence of a given form): the adapter "
                    f"follows a stated format. Up to {config.max_description_chars:,} characters.",
                    lines=3,
                    elem_id="description",
                )
                gr.Examples(EXAMPLES, inputs=description, label="Examples")
                generate = gr.Button("Generate adapter", variant="primary", elem_id="generate")
                status = gr.Markdown("No adapter yet.", elem_id="adapter-status")
                norms = gr.LinePlot(
                    x="layer",
                    y="norm",
                    color="module",
                    title="Norm of each generated weight update ‖ΔW‖ per layer",
                    height=220,
                    elem_id="norm-plot",
                )
                adapters = gr.Dropdown(label="Your adapters (newest first)", choices=[], interactive=True)
                download = gr.Button("Download as PEFT folder (.zip)", size="sm", elem_id="download")
                archive = gr.File(
                    label="Adapter (PEFT folder, zipped)", interactive=False, visible=False, elem_id="archive"
                )
                with gr.Group(visible=config.push_enabled):
                    # visitors push to their own account with their own token, never with the Space's HF_TOKEN
                    if config.push_enabled:
                        gr.LoginButton(elem_id="login")
                    repo_id = gr.Textbox(label="Repository name (in your account)", placeholder="my-t2l-adapter")
                    with gr.Row():
                        private = gr.Checkbox(label="private", value=True)
                        push = gr.Button("Push to Hub", size="sm")
                push_status = gr.Markdown(
                    ""
                    if config.push_enabled
                    else "_Push to Hub is off: it needs `hf_oauth: true` in the Space's README (sign-in)._"
                )
            with gr.Column(scale=3):
                with gr.Row():
                    adapted_chat = gr.Chatbot(label="With the generated adapter", height=420, elem_id="adapted-chat")
                    base_chat = gr.Chatbot(label="Base model", height=420, elem_id="base-chat")
                message = gr.Textbox(
                    label="Message",
                    placeholder="Ask something; both models answer.",
                    info=f"Up to {config.max_message_chars:,} characters.",
                    elem_id="message",
                )
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    clear = gr.Button("Clear chat")

        generate_io = dict(fn=h.generate, inputs=[description, session], outputs=[session, status, norms, adapters])
        generate.click(**generate_io, api_name="generate")
        description.submit(**generate_io, api_name=False)
        adapters.input(h.select, [adapters, session], [session, status, norms], api_name="select")
        # chats take turns on the shared model (see LoadedModels.lock); the queue shows users their position
        chat_io = dict(
            fn=h.chat,
            inputs=[message, adapted_chat, base_chat, session],
            outputs=[message, adapted_chat, base_chat],
            concurrency_limit=1,
            concurrency_id="chat",
        )
        send.click(**chat_io, api_name="chat")
        message.submit(**chat_io, api_name=False)
        clear.click(h.clear, None, [adapted_chat, base_chat], api_name=False)
        download.click(h.download, [session], [archive], api_name="download").success(
            lambda: gr.File(visible=True), None, archive, api_name=False
        )
        push.click(h.push, [repo_id, private, session], [push_status], api_name="push")
    demo.queue(max_size=config.max_queue, default_concurrency_limit=config.concurrency_limit)
    return demo
