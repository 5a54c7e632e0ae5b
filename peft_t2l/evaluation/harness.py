"""Run systems over tasks: one prompt protocol, greedy batched generation, SNI metrics, log-likelihood choices.

The prompt protocol is the one a user of a generated adapter follows: the base model's chat template with the task
input as the user turn. Only the `base+description` baseline adds the description to the prompt, as
`description + "\\n\\n" + input` in the same user turn; adapters carry the task, so their prompts never name it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig

from ..data import IGNORE_INDEX, Task, encode_example
from ..generated_lora import GeneratedLoRA
from ..generation import generate_chat, left_pad, pad_token_id
from ..hosting import AdapterHost
from ..peft_integration import load_t2l_model
from .metrics import LabelSet, detect_label_set, exact_match, rouge_l
from .systems import UNINFORMATIVE, SystemSpec, select_descriptions

ANSWER_MARGIN_TOKENS = 8  # generation budget beyond a task's longest reference: room for a stray word or period
MAX_LABEL_TOKENS = 512  # labels are never cut when scoring choices


@dataclass
class EvalConfig:
    """How an evaluation runs. The same config and inputs give the same numbers (greedy decoding, fixed batches).

    Args:
        max_instances: evaluate at most this many instances per task (the first ones).
        holdout_instances: evaluate only the last N instances of each task (at most half), the ones training's
            `num_holdout_instances=N` kept out: seen tasks on unseen inputs. `max_instances` then applies to those.
        max_new_tokens: cap on generated tokens; each task gets its longest reference plus a small margin, at most this.
        batch_size: prompts per `generate` call, and sequences per forward when scoring choices.
        num_descriptions: descriptions per task for systems that read one; a task's score is the mean over them.
        max_labels: largest closed answer set scored as multiple choice (see `detect_label_set`).
        max_prompt_tokens: longer prompts keep their last tokens (counted in the report).
        keep_predictions: store every generated answer in the report.

    Example:
        ```python
        >>> config = EvalConfig(max_instances=20, max_new_tokens=48, batch_size=8)
        ```
    """

    max_instances: int | None = field(default=None, metadata={"help": "Instances per task (first N; all if None)."})
    holdout_instances: int = field(
        default=0, metadata={"help": "Only the last N instances per task (those training held out); 0: all."}
    )
    max_new_tokens: int = field(default=64, metadata={"help": "Cap on generated tokens per answer."})
    batch_size: int = field(default=8, metadata={"help": "Prompts per generate call / sequences per forward."})
    num_descriptions: int = field(
        default=1, metadata={"help": "Descriptions per task for description-reading systems."}
    )
    max_labels: int = field(default=10, metadata={"help": "Largest label set scored as multiple choice."})
    max_prompt_tokens: int = field(default=1024, metadata={"help": "Longer prompts keep their last tokens."})
    keep_predictions: bool = field(default=True, metadata={"help": "Store generated answers in the report."})

    def __post_init__(self):
        for name in ("max_new_tokens", "batch_size", "num_descriptions", "max_prompt_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"EvalConfig.{name}={getattr(self, name)} must be at least 1.")
        if self.max_instances is not None and self.max_instances < 1:
            raise ValueError(f"EvalConfig.max_instances={self.max_instances} must be at least 1, or None for all.")
        if self.holdout_instances < 0:
            raise ValueError(
                f"EvalConfig.holdout_instances={self.holdout_instances} is negative; use 0 (all instances) or the N "
                "that training's num_holdout_instances kept out."
            )
        if self.max_labels < 2:
            raise ValueError(f"EvalConfig.max_labels={self.max_labels} must be at least 2.")


@dataclass
class TaskResult:
    """One system on one task; scores are percentages, means over instances and descriptions.

    Args:
        rouge_l: ROUGE-L F-measure of the generated answers.
        exact_match: exact match of the generated answers (normalised).
        mc_accuracy: log-likelihood choice accuracy, for multiple-choice tasks.
        descriptions: the descriptions used (empty for systems that read none).
        predictions: generated answers, one list per description.
        choices: chosen labels, one list per description (multiple-choice tasks).
        instance_rouge_l: ROUGE-L (%) of each instance, the mean over descriptions: what paired comparisons of two
            systems resample (see `conditioning_gaps`).
    """

    rouge_l: float
    exact_match: float
    mc_accuracy: float | None = None
    descriptions: list[str] = field(default_factory=list)
    predictions: list[list[str]] = field(default_factory=list)
    choices: list[list[str]] = field(default_factory=list)
    instance_rouge_l: list[float] = field(default_factory=list)


@dataclass
class TaskInfo:
    """What was evaluated of a task.

    Args:
        num_instances: instances scored.
        max_new_tokens: the generation budget (longest reference + a margin, at most the config's).
        labels: the label set of a multiple-choice task, else None.
        reference_words: mean words of the instances' first reference answer, the length an answer should have
            (None in reports written before it was recorded).
    """

    num_instances: int
    max_new_tokens: int
    labels: list[str] | None
    reference_words: float | None = None


@dataclass
class EvalReport:
    """Every system on every task. `to_dict()` holds only what the inputs determine (no timings).

    Args:
        config: the `EvalConfig` as a dict.
        tasks: per task, what was evaluated.
        systems: per system, its spec as a dict.
        results: `results[system][task]`; a task missing for a system (no oracle folder) is absent.
        truncated_prompts: prompts cut by `max_prompt_tokens`.
        seconds: wall time per system (not part of `to_dict()`).
    """

    config: dict
    tasks: dict[str, TaskInfo]
    systems: dict[str, dict]
    results: dict[str, dict[str, TaskResult]]
    truncated_prompts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def mean(self, system: str, metric: str) -> float | None:
        """Mean of `metric` ("rouge_l", "exact_match", "mc_accuracy") over the tasks that have it."""
        values = [getattr(r, metric) for r in self.results[system].values() if getattr(r, metric) is not None]
        return round(sum(values) / len(values), 2) if values else None

    def to_dict(self) -> dict:
        return {
            "config": self.config,
            "tasks": {name: asdict(info) for name, info in self.tasks.items()},
            "systems": self.systems,
            "results": {s: {t: asdict(r) for t, r in res.items()} for s, res in self.results.items()},
            "means": {
                s: {m: self.mean(s, m) for m in ("rouge_l", "exact_match", "mc_accuracy")} for s in self.results
            },
            "truncated_prompts": self.truncated_prompts,
        }

    @classmethod
    def from_dict(cls, data: dict) -> EvalReport:
        """The report `to_dict()` wrote (e.g. read back from `results.json`); `means` and `command` are ignored.

        `EvalReport.from_dict(r.to_dict()).to_dict() == r.to_dict()`. Wall times are not in the dict, so `seconds`
        starts empty (`read_report` fills it from `timing.json`).

        Args:
            data: a dict with the keys `config`, `tasks`, `systems`, `results` and optionally `truncated_prompts`.

        Example:
            ```python
            >>> report = EvalReport.from_dict(json.loads(Path("runs/eval/results.json").read_text()))
            ```
        """
        missing = [key for key in ("config", "tasks", "systems", "results") if key not in data]
        if missing:
            raise ValueError(
                f"not an evaluation report: missing {missing}; pass the results.json that t2l eval wrote."
            )
        try:
            return cls(
                config=dict(data["config"]),
                tasks={name: TaskInfo(**info) for name, info in data["tasks"].items()},
                systems={name: dict(spec) for name, spec in data["systems"].items()},
                results={
                    system: {task: TaskResult(**result) for task, result in per_task.items()}
                    for system, per_task in data["results"].items()
                },
                truncated_prompts=int(data.get("truncated_prompts", 0)),
            )
        except (AttributeError, TypeError) as err:  # a field renamed or missing, or a value of the wrong shape
            raise ValueError(f"not an evaluation report ({err}); pass the results.json that t2l eval wrote.") from err


def user_turn(task_input: str, description: str | None = None) -> str:
    """The user turn of the prompt protocol: the input, or the description, a blank line, and the input.

    Example:
        ```python
        >>> user_turn("I loved it", "Classify the sentiment.")
        'Classify the sentiment.\\n\\nI loved it'
        ```
    """
    return task_input if description is None else f"{description}\n\n{task_input}"


def prompt_ids(tokenizer, task_input: str, description: str | None = None) -> list[int]:
    """Token ids of the full prompt: chat template, user turn, assistant header.

    Example:
        ```python
        >>> ids = prompt_ids(tokenizer, "2+2=")
        ```
    """
    messages = [{"role": "user", "content": user_turn(task_input, description)}]
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


@torch.no_grad()
def generate_answers(
    model: torch.nn.Module, tokenizer, prompts: list[list[int]], *, max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy answers for tokenised prompts, `batch_size` at a time, left-padded, in the order given.

    Args:
        model: a causal LM (or `PeftModel`) in eval mode.
        tokenizer: its tokenizer (pad and end-of-turn ids, decoding).
        prompts: token ids per prompt (see `prompt_ids`).
        max_new_tokens: answer length limit.
        batch_size: prompts per `generate` call.

    Example:
        ```python
        >>> generate_answers(model, tokenizer, [prompt_ids(tokenizer, "2+2=")], max_new_tokens=8, batch_size=1)
        ```
    """
    # a fresh config: greedy whatever the checkpoint's generation_config.json says
    generation = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_token_id(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
    )
    # batch_size groups similar lengths (longest first) into one call: less padding, and the same batches every run
    answers = generate_chat(model, tokenizer, prompts, batch_size=batch_size, generation_config=generation)
    return [answer.strip() for answer in answers]


@torch.no_grad()
def option_log_likelihoods(
    model: torch.nn.Module,
    tokenizer,
    user_turns: list[str],
    labels: Sequence[str],
    *,
    batch_size: int,
    max_prompt_tokens: int = 1024,
) -> torch.Tensor:
    """Log-likelihood of each label as the whole assistant response (through the end-of-turn token).

    Each prompt runs once; its KV cache is repeated for the labels, so only the label tokens run per label.

    Args:
        model: a causal LM (or `PeftModel`) in eval mode.
        tokenizer: its tokenizer, with a chat template.
        user_turns: one user turn per instance (see `user_turn`).
        labels: the candidate answers.
        batch_size: prompts per forward.
        max_prompt_tokens: longer prompts keep their last tokens.

    Returns:
        `[len(user_turns), len(labels)]` summed log-probabilities.

    Example:
        ```python
        >>> scores = option_log_likelihoods(model, tokenizer, ["Is 7 prime?"], ["yes", "no"], batch_size=8)
        ```
    """
    prompts = [prompt_ids(tokenizer, turn)[-max_prompt_tokens:] for turn in user_turns]
    label_ids = _label_ids(tokenizer, labels)
    pad_id = pad_token_id(tokenizer)
    device = next(model.parameters()).device
    k, width = len(labels), max(len(ids) for ids in label_ids)
    answers = torch.full((k, width), pad_id, dtype=torch.long)  # [K, L], right-padded
    answer_mask = torch.zeros_like(answers)  # [K, L]
    for j, ids in enumerate(label_ids):
        answers[j, : len(ids)] = torch.tensor(ids)
        answer_mask[j, : len(ids)] = 1
    scores = []
    for start in range(0, len(prompts), batch_size):
        input_ids, mask = left_pad(prompts[start : start + batch_size], pad_id)  # [B, P]
        b = input_ids.shape[0]
        out = model(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0).to(device),
            use_cache=True,
            logits_to_keep=1,
        )
        first = out.logits[:, -1].float().log_softmax(-1).repeat_interleave(k, 0)  # [B*K, V]
        cache = out.cache
        cache.batch_repeat_interleave(k)  # every prompt once per label
        tokens, token_mask = answers.repeat(b, 1), answer_mask.repeat(b, 1)  # [B*K, L]
        prompt_len = mask.sum(-1).repeat_interleave(k)  # [B*K]
        rest = (
            model(
                input_ids=tokens.to(device),
                attention_mask=torch.cat([mask.repeat_interleave(k, 0), token_mask], -1).to(device),
                position_ids=(prompt_len[:, None] + torch.arange(width)).to(device),
                cache=cache,
                use_cache=True,
            )
            .logits.float()
            .log_softmax(-1)
        )  # [B*K, L, V]: position j predicts label token j+1
        step = torch.cat(
            [first[:, None], rest[:, :-1]], 1
        )  # [B*K, L]: the distribution each label token is drawn from
        picked = step.gather(-1, tokens.to(device).unsqueeze(-1)).squeeze(-1)  # [B*K, L]
        scores.append((picked * token_mask.to(device)).sum(-1).view(b, k).cpu())  # [B, K]
    return torch.cat(scores)


def _label_ids(tokenizer, labels: Sequence[str]) -> list[list[int]]:
    """Token ids of each label as the assistant turn, through the end-of-turn token.

    Read from the full chat template rather than by tokenising the label alone, so the ids match what the model sees
    after the assistant header; the template's newline after the end-of-turn token is the same for every label and is
    not scored.
    """
    ids = []
    for label in labels:
        example = encode_example(
            tokenizer, "", label, max_prompt_length=MAX_LABEL_TOKENS, max_response_length=MAX_LABEL_TOKENS
        )
        response = [t for t, lab in zip(example.input_ids, example.labels) if lab != IGNORE_INDEX]
        if tokenizer.eos_token_id in response:
            response = response[: response.index(tokenizer.eos_token_id) + 1]
        ids.append(response)
    return ids


@dataclass
class _TaskPlan:
    task: Task
    labels: LabelSet | None
    max_new_tokens: int


def _plan(task: Task, tokenizer, config: EvalConfig) -> _TaskPlan:
    # both decisions read the whole task, so they do not move with --max-instances
    labels = detect_label_set(task, max_labels=config.max_labels)
    longest = max(
        len(tokenizer(out, add_special_tokens=False)["input_ids"]) for i in task.instances for out in i.outputs
    )
    budget = min(config.max_new_tokens, longest + ANSWER_MARGIN_TOKENS)
    task = task.split_instances(config.holdout_instances)[1]
    if config.max_instances is not None:
        task = replace(task, instances=task.instances[: config.max_instances])
    return _TaskPlan(task, labels, budget)


@dataclass
class _Pass:
    """One pass over a task's instances: which adapter is on, and which description the prompt carries."""

    adapter: str | None = None
    description: str | None = None
    in_prompt: bool = False


def evaluate(
    systems: Sequence[SystemSpec],
    tasks: Sequence[Task],
    *,
    model: torch.nn.Module,
    tokenizer,
    config: EvalConfig | None = None,
    log: Callable[[str], None] | None = print,
) -> EvalReport:
    """Evaluate every system on every task with the same prompts, decoding and metrics.

    Args:
        systems: the columns of the comparison (names must be unique).
        tasks: the tasks, all instances (capping happens here, after the label sets are read).
        model: the base causal LM; adapters are attached to it in place.
        tokenizer: its tokenizer, with a chat template.
        config: batch size, limits, descriptions per task.
        log: where progress lines go (`None` for silence).

    Example:
        ```python
        >>> report = evaluate([SystemSpec("base"), SystemSpec("t2l", source="runs/sft", descriptions="train")],
        ...                   load_tasks("/work/shared/data/sni/validation"), model=model, tokenizer=tokenizer)
        ```
    """
    config = config or EvalConfig()
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique; got {names}. Give each SystemSpec its own name.")
    if not tasks:
        raise ValueError("no tasks to evaluate; pass at least one task.")
    plans = [_plan(task, tokenizer, config) for task in tasks]
    report = EvalReport(
        config=asdict(config),
        tasks={p.task.name: _task_info(p) for p in plans},
        systems={s.name: _spec_dict(s) for s in systems},
        results={},
    )
    # one host for every system: the base model is wrapped once and never rebuilt
    runner = _Runner(AdapterHost(model.eval()), tokenizer, config, report, log or (lambda line: None))
    for index, spec in enumerate(systems):
        start = time.perf_counter()
        report.results[spec.name] = runner.system(spec, plans, adapter_name=f"s{index}")
        report.seconds[spec.name] = round(time.perf_counter() - start, 1)
        runner.log(f"[eval] {spec.name}: {report.seconds[spec.name]} s, ROUGE-L {report.mean(spec.name, 'rouge_l')}")
    return report


@dataclass
class _Runner:
    """What every pass shares: the base model with its adapters, the tokenizer, the config, the report."""

    host: AdapterHost
    tokenizer: Any
    config: EvalConfig
    report: EvalReport
    log: Callable[[str], None]

    def system(self, spec: SystemSpec, plans: list[_TaskPlan], *, adapter_name: str) -> dict[str, TaskResult]:
        descriptions = {}
        if spec.reads_descriptions:
            tasks = [p.task for p in plans]
            count = spec.num_descriptions or self.config.num_descriptions
            descriptions = select_descriptions(tasks, spec.descriptions, count=count)
        loras = {}
        if spec.kind == "t2l":
            unique = sorted({d for ds in descriptions.values() for d in ds})
            loras = dict(zip(unique, _generate(load_t2l_model(spec.source), unique)))  # one batched forward
        if spec.kind == "multitask":
            self.host.attach(adapter_name, spec.source)
        results = {}
        for plan in plans:
            result = self.score(plan, self.passes(spec, plan.task, adapter_name, descriptions, loras))
            if result is None:
                self.log(f"[eval] {spec.name}: no adapter for {plan.task.name}, skipped")
                continue
            results[plan.task.name] = result
            self.log(f"[eval] {spec.name} / {plan.task.name}: ROUGE-L {result.rouge_l}")
        return results

    def passes(
        self,
        spec: SystemSpec,
        task: Task,
        adapter_name: str,
        descriptions: dict[str, list[str]],
        loras: dict[str, GeneratedLoRA],
    ) -> Iterator[_Pass]:
        """The passes a system makes over a task, attaching each pass's adapter right before it is yielded."""
        if spec.kind == "base":
            yield _Pass()
        elif spec.kind == "multitask":
            yield _Pass(adapter=adapter_name)
        elif spec.kind == "oracle":
            folder = Path(spec.source) / task.name
            if folder.is_dir():  # tasks without an oracle are left out of this column
                self.host.attach(f"{adapter_name}_{task.name}", folder)
                yield _Pass(adapter=f"{adapter_name}_{task.name}")
        elif spec.kind == "base+description":
            for d in descriptions[task.name]:
                yield _Pass(description=d, in_prompt=True)
        else:  # t2l: one adapter name per system, hot-swapped per description
            for d in descriptions[task.name]:
                self.host.attach(adapter_name, loras[d])  # hot-swapped in place
                yield _Pass(adapter=adapter_name, description=d)

    def score(self, plan: _TaskPlan, passes: Iterator[_Pass]) -> TaskResult | None:
        """Generate and score every pass; `None` when the system made no pass over the task."""
        instances, config, tokenizer = plan.task.instances, self.config, self.tokenizer
        rouge, em, mc, predictions, choices, done = [], [], [], [], [], []
        for run in passes:  # consumed in order: each step attaches the adapter of that pass
            done.append(run)
            in_prompt = run.description if run.in_prompt else None
            prompts = [prompt_ids(tokenizer, inst.input, in_prompt) for inst in instances]
            self.report.truncated_prompts += sum(len(p) > config.max_prompt_tokens for p in prompts)
            prompts = [p[-config.max_prompt_tokens :] for p in prompts]
            with self.host.active(run.adapter) as model:
                answers = generate_answers(
                    model, tokenizer, prompts, max_new_tokens=plan.max_new_tokens, batch_size=config.batch_size
                )
                if plan.labels is not None:
                    scores = option_log_likelihoods(
                        model,
                        tokenizer,
                        [user_turn(inst.input, in_prompt) for inst in instances],
                        plan.labels.labels,
                        batch_size=config.batch_size,
                        max_prompt_tokens=config.max_prompt_tokens,
                    )  # [N, K]
                    picked = [plan.labels.labels[k] for k in scores.argmax(-1).tolist()]
                    mc += [float(p in {o.strip() for o in inst.outputs}) for p, inst in zip(picked, instances)]
                    choices.append(picked)
            rouge += [rouge_l(a, inst.outputs) for a, inst in zip(answers, instances)]
            em += [exact_match(a, inst.outputs) for a, inst in zip(answers, instances)]
            predictions.append(answers)
        if not done:
            return None
        n = len(instances)  # rouge holds the passes one after another
        per_instance = [sum(rouge[p * n + i] for p in range(len(done))) / len(done) for i in range(n)]
        return TaskResult(
            rouge_l=_percent(rouge),
            exact_match=_percent(em),
            mc_accuracy=_percent(mc) if plan.labels is not None else None,
            descriptions=[r.description for r in done if r.description is not None],
            predictions=predictions if config.keep_predictions else [],
            choices=choices if config.keep_predictions else [],
            instance_rouge_l=[round(100.0 * v, 2) for v in per_instance],
        )


def _generate(t2l, descriptions: list[str]) -> list[GeneratedLoRA]:
    """The adapters for `descriptions`; the `UNINFORMATIVE` label gets the zero task embedding."""
    if UNINFORMATIVE not in descriptions:
        return t2l.generate_lora(descriptions)
    texts = [d for d in descriptions if d != UNINFORMATIVE]
    encoded = iter(t2l.embed_descriptions(texts).float().cpu() if texts else [])  # [N_text, E]
    zero = torch.zeros(t2l.config.task_emb_size)
    embeddings = torch.stack([zero if d == UNINFORMATIVE else next(encoded) for d in descriptions])  # [N, E]
    return t2l.generate_lora(descriptions, task_embeddings=embeddings)


def _task_info(plan: _TaskPlan) -> TaskInfo:
    instances = plan.task.instances
    words = round(sum(len(i.outputs[0].split()) for i in instances) / len(instances), 2) if instances else None
    return TaskInfo(len(instances), plan.max_new_tokens, _label_list(plan.labels), reference_words=words)


def _percent(values: list[float]) -> float:
    return round(100.0 * sum(values) / len(values), 2)


def _label_list(labels: LabelSet | None) -> list[str] | None:
    return list(labels.labels) if labels is not None else None


def _spec_dict(spec: SystemSpec) -> dict:
    source = spec.source if spec.source is None or isinstance(spec.source, (str, Path)) else type(spec.source).__name__
    spec_dict = {
        "kind": spec.kind,
        "source": None if source is None else str(source),
        "descriptions": spec.descriptions,
    }
    if spec.num_descriptions is not None:  # only when set, so reports of earlier runs still compare equal
        spec_dict["num_descriptions"] = spec.num_descriptions
    return spec_dict
