"""What each button does. Plain methods, so tests call them directly; Gradio only wires them to components.

Invalid input raises `gr.Error` with a message that says what to do; the page shows it and the app stays up.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pandas as pd
import torch

from peft_t2l import GeneratedLoRA

from .chat import flatten_history, stream_answers
from .config import AppConfig
from .runtime import LoadedModels
from .session import AdapterEntry, Session

REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?$")
KEPT_DOWNLOADS = 32  # zip files kept on disk; Gradio has copied older ones into its own cache by then


class DemoHandlers:
    """The event handlers of the demo, bound to the shared models and the settings.

    Args:
        models: loaded once per process, shared by all sessions.
        config: limits and settings.

    Example:
        ```python
        >>> h = DemoHandlers(tiny_models(), AppConfig(max_new_tokens=8))
        >>> session, status, plot, choices = h.generate("translate English to French", Session())
        >>> *_, (msg, adapted, base) = h.chat("Hello", [], [], session)
        ```
    """

    def __init__(self, models: LoadedModels, config: AppConfig):
        self.models = models
        self.config = config
        self._downloads = Path(tempfile.mkdtemp(prefix="t2l-space-"))
        self._download_dirs: deque[Path] = deque()
        # removed when the handlers are closed, garbage-collected, or the process exits (weakref.finalize is atexit)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._downloads), ignore_errors=True)

    def close(self) -> None:
        """Delete the folder of zipped downloads now (also done at exit)."""
        self._cleanup()

    # ---- adapters ----------------------------------------------------------------------------------------------

    def generate(self, description: str, session: Session) -> tuple[Session, str, pd.DataFrame, gr.Dropdown]:
        """Write an adapter for `description`, keep it in the session and make it active."""
        text = self._check_text(description, what="description", limit=self.config.max_description_chars)
        start = time.perf_counter()
        with self.models.t2l_lock:
            lora = self.models.t2l.generate_lora(text)
        entry = AdapterEntry(lora, seconds=time.perf_counter() - start)
        session.add(entry, limit=self.config.adapters_per_session)
        return session, adapter_summary(entry), weight_norms(lora), _dropdown(session)

    def select(self, key: str, session: Session) -> tuple[Session, str, pd.DataFrame]:
        """Make one of the session's adapters the active one (the chat uses it from the next message)."""
        entry = session.select(key)
        return session, adapter_summary(entry), weight_norms(entry.lora)

    def download(self, session: Session) -> str:
        """The active adapter as a zip of a plain PEFT LoRA folder; returns the file path."""
        entry = session.active_entry()
        folder = self._downloads / entry.key
        name = f"t2l-adapter-{entry.key}"
        entry.lora.save_pretrained(folder / name)
        archive = shutil.make_archive(str(folder / name), "zip", root_dir=folder, base_dir=name)
        self._download_dirs.append(folder)
        while len(self._download_dirs) > KEPT_DOWNLOADS:
            shutil.rmtree(self._download_dirs.popleft(), ignore_errors=True)
        return archive

    def push(
        self,
        name: str,
        private: bool,
        session: Session,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
    ) -> str:
        """Upload the active adapter to the signed-in visitor's own account, with the visitor's own token.

        Gradio injects `profile` and `oauth_token` from the visitor's "Sign in with Hugging Face" session; the Space's
        own token (HF_TOKEN) is never used, so a visitor can only write where their own token allows.

        Args:
            name: repository name, `"my-adapter"` or `"<your-username>/my-adapter"`.
            private: create the repository as private.
            session: the visitor's adapters.
            profile, oauth_token: the signed-in visitor (None when not signed in).

        Example:
            ```python
            >>> h.push("my-adapter", True, session, profile, token)
            'Pushed adapter `a1` to [me/my-adapter](https://huggingface.co/me/my-adapter).'
            ```
        """
        if not self.config.push_enabled:
            raise gr.Error("Pushing to the Hub is off on this Space (it needs `hf_oauth: true` in its README).")
        username = profile.get("preferred_username") if profile is not None else None
        token = getattr(oauth_token, "token", None)
        if not username or not isinstance(token, str) or not token:
            raise gr.Error("Sign in with Hugging Face first (button above): the adapter goes to your own account.")
        name = (name or "").strip()
        owner, _, repo = name.rpartition("/")
        if owner and owner != username:
            raise gr.Error(f"You can push to your own account only: use '{username}/{repo}' or just '{repo}'.")
        if not REPO_NAME.match(repo) or ".." in repo or repo.endswith(".git"):
            raise gr.Error(
                f"{name!r} is not a repository name; use letters, digits, '-', '_' or '.', e.g. my-adapter."
            )
        repo_id = f"{username}/{repo}"
        entry = session.active_entry()
        try:
            entry.lora.push_to_hub(repo_id, token=token, private=private)
        except Exception as err:  # network, permissions, quota: all are the user's to fix, so show them
            raise gr.Error(f"Push to {repo_id} failed: {err}") from err
        return f"Pushed adapter `{entry.key}` to [{repo_id}](https://huggingface.co/{repo_id})."

    # ---- chat ---------------------------------------------------------------------------------------------------

    def chat(
        self, message: str, adapted_history: list | None, base_history: list | None, session: Session
    ) -> Iterator[tuple[str, list[dict], list[dict]]]:
        """Stream the adapted model's and the base model's answers to `message`, side by side.

        Yields `(message box, adapted conversation, base conversation)`; the message box is cleared at once.
        """
        text = self._check_text(message, what="message", limit=self.config.max_message_chars)
        entry = session.active_entry()
        adapted = [*self._bounded(adapted_history), {"role": "user", "content": text}]
        base = [*self._bounded(base_history), {"role": "user", "content": text}]
        yield "", adapted, base
        answers = ("", "")
        stream = stream_answers(
            self.models,
            key=entry.key,
            lora=entry.lora,
            adapted=adapted,
            base=base,
            max_new_tokens=self.config.max_new_tokens,
            max_prompt_tokens=self.config.max_prompt_tokens,
        )
        try:
            for answers in stream:
                yield "", [*adapted, _assistant(answers[0])], [*base, _assistant(answers[1])]
        except Exception as err:  # e.g. out of memory: say what happened instead of Gradio's bare "Error"
            raise gr.Error(
                f"The model failed to answer ({type(err).__name__}: {err}). Press 'Clear chat' and try a shorter "
                "message."
            ) from err
        if not all(answers):  # say so, rather than leave an empty bubble
            yield (
                "",
                [*adapted, _assistant(answers[0] or "(no answer)")],
                [*base, _assistant(answers[1] or "(no answer)")],
            )

    @staticmethod
    def clear() -> tuple[list, list]:
        return [], []

    # ---- helpers ------------------------------------------------------------------------------------------------

    def _bounded(self, history: list | None) -> list[dict[str, str]]:
        """The last turns of a conversation that fit the limits; a history far past them is refused at once.

        The browser sends the whole conversation with every message, so its size is the client's choice: without a
        bound one request could hold the shared model for as long as its prompt takes to build.
        """
        turns, chars = self.config.max_history_turns, self.config.max_history_chars
        if history is not None and not isinstance(history, list):
            raise gr.Error("The chat history is malformed; press 'Clear chat' and try again.")
        # the page only ever holds what we sent back (trimmed below), so far more than that is not from the page
        if len(history or []) > 4 * turns + 4:
            raise gr.Error(f"The chat history has {len(history):,} messages; press 'Clear chat' and start again.")
        messages = flatten_history(history)
        total = sum(len(m["content"]) for m in messages)
        if total > 4 * chars + 4 * self.config.max_message_chars:
            raise gr.Error(f"The chat history is {total:,} characters long; press 'Clear chat' and start again.")
        messages = messages[-turns:]
        total = sum(len(m["content"]) for m in messages)
        start = 0
        while start < len(messages) and (total > chars or messages[start]["role"] != "user"):
            total -= len(messages[start]["content"])
            start += 1
        return messages[start:]

    @staticmethod
    def _check_text(value: str | None, *, what: str, limit: int) -> str:
        text = (value or "").strip()
        if not text:
            hint = "e.g. 'Classify the sentiment of a movie review.'" if what == "description" else "then press Send."
            raise gr.Error(f"The {what} is empty: type one first, {hint}")
        if len(text) > limit:
            raise gr.Error(
                f"The {what} is {len(text):,} characters long; the limit is {limit:,}. Shorten it and try again."
            )
        return text


def adapter_summary(entry: AdapterEntry) -> str:
    """Markdown: which description, how long generation took, and the adapter's size."""
    lora, cfg = entry.lora, entry.lora.lora_config
    dtype = next(iter(lora.state_dict.values())).dtype
    return (
        f"**Adapter `{entry.key}`** for: _{_escape(lora.description[:160])}_\n\n"
        f"Generated in **{entry.seconds * 1000:.1f} ms** · {lora.num_parameters:,} parameters "
        f"({lora.nbytes / 2**20:.2f} MiB, {str(dtype).removeprefix('torch.')}) · rank {cfg.r}, alpha {cfg.lora_alpha} "
        f"on {', '.join(sorted(cfg.target_modules))}"
    )


def weight_norms(lora: GeneratedLoRA) -> pd.DataFrame:
    """Frobenius norm of each generated weight update `scaling * B @ A`, per layer and module.

    Returns a frame with columns `layer`, `module`, `norm`, one row per adapted Linear.
    """
    cfg = lora.lora_config
    scaling = cfg.lora_alpha / (cfg.r**0.5 if cfg.use_rslora else cfg.r)
    rows = []
    for key, a in lora.state_dict.items():
        if not key.endswith(".lora_A.weight"):
            continue
        b = lora.state_dict[key.replace(".lora_A.", ".lora_B.")]
        path = key.removesuffix(".lora_A.weight")
        layer = re.search(r"\.(\d+)\.", path)
        delta = b.float() @ a.float()  # [out, r] @ [r, in] -> [out, in]
        rows.append(
            {
                "layer": int(layer.group(1)) if layer else 0,
                "module": path.rsplit(".", 1)[-1],
                "norm": scaling * torch.linalg.matrix_norm(delta).item(),
            }
        )
    return pd.DataFrame(rows, columns=["layer", "module", "norm"])


def _dropdown(session: Session) -> gr.Dropdown:
    return gr.Dropdown(choices=session.choices(), value=session.active)


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _escape(text: str) -> str:
    return re.sub(r"([_*`\[\]<>])", r"\\\1", text)
