"""The Super-NaturalInstructions metrics (exact match, ROUGE-L) and the rule that makes a task multiple choice.

ROUGE-L comes from Google's `rouge-score` package with the settings SNI's own `compute_metrics.py` uses (Porter
stemmer, F-measure); every metric takes the best score over an instance's accepted answers.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rouge_score import rouge_scorer

from ..data import Task

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace (for exact match).

    An answer that is nothing but an article keeps it: multiple-choice letters ("A", "a.") must not normalise to the
    empty string, or an empty prediction would match them.

    Args:
        text: a prediction or a reference.

    Example:
        ```python
        >>> normalize_answer("The  Cat!")
        'cat'
        >>> normalize_answer("A.")
        'a'
        ```
    """
    words = text.lower().translate(_PUNCTUATION).split()
    kept = _ARTICLES.sub(" ", " ".join(words)).split()
    return " ".join(kept or words)


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference, else 0.0.

    Args:
        prediction: the generated answer.
        references: the accepted answers.

    Example:
        ```python
        >>> exact_match("the answer: Paris.", ["paris"])
        0.0
        >>> exact_match("Paris.", ["paris"])
        1.0
        ```
    """
    _check_references(references)
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(ref) for ref in references))


def rouge_l(prediction: str, references: Sequence[str]) -> float:
    """ROUGE-L F-measure in [0, 1] (stemmed, as SNI scores it), the best over the references.

    Args:
        prediction: the generated answer.
        references: the accepted answers.

    Example:
        ```python
        >>> round(rouge_l("the cat sat", ["a cat sat down"]), 3)
        0.571
        ```
    """
    _check_references(references)
    scorer = _rouge_scorer()
    return max(scorer.score(target=ref, prediction=prediction)["rougeL"].fmeasure for ref in references)


@lru_cache(maxsize=1)
def _rouge_scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def _check_references(references: Sequence[str]) -> None:
    if isinstance(references, str) or not references:
        raise ValueError(f"references={references!r} must be a non-empty list of answers, e.g. ['Paris'].")


@dataclass(frozen=True)
class LabelSet:
    """The closed set of answers of a multiple-choice task, scored by log-likelihood.

    Args:
        labels: the distinct answers, sorted.
    """

    labels: tuple[str, ...]


def detect_label_set(task: Task, *, max_labels: int = 10) -> LabelSet | None:
    """The task's label set when it is multiple choice, else `None`.

    Rule: the accepted answers of all instances (stripped) take between 2 and `max_labels` distinct values, and the
    task has at least twice as many instances as labels (so labels repeat; a free-form task with a handful of
    instances is not mistaken for a classification). Call it on the whole task, before capping instances, so the
    decision does not depend on `--max-instances`. Only labels seen in the data are candidates.

    Args:
        task: the task.
        max_labels: largest label set treated as multiple choice.

    Example:
        ```python
        >>> detect_label_set(sentiment_task)
        LabelSet(labels=('negative', 'positive'))
        ```
    """
    if max_labels < 2:
        raise ValueError(f"max_labels={max_labels} is below 2; a choice needs at least two labels.")
    labels = sorted({out.strip() for inst in task.instances for out in inst.outputs if out.strip()})
    if 2 <= len(labels) <= max_labels and len(task.instances) >= 2 * len(labels):
        return LabelSet(tuple(labels))
    return None
