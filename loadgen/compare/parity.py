"""Parity gates: are the servers doing the same work, so that their numbers can be compared?

- `token_agreement`: greedy decoding of a fixed prompt set on every target; the outputs are tokenized
  with the model's tokenizer and compared token by token against the baseline target. The same
  weights give the same text, up to late divergence from floating-point differences; a low agreement
  means the servers are not serving the same model (skipped when both sides use random weights).
- `usage`: each server's `usage` counts agree with the tokenizer: prompt tokens of the fixed prompts
  (within 1, for a BOS token), completion tokens of the greedy outputs (re-tokenizing text may merge
  tokens differently: within 2 or 10%), and every server counts the same prompt tokens for the same
  request of the sweep.
- `output_length`: `max_tokens` is honoured: no output is longer than asked, with `ignore_eos` every
  output is exactly as long as asked, and the same request has the same output length on every target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from loadgen.record import RequestRecord
from loadgen.workloads.base import Prompt
from loadgen.workloads.tokenizer import find_tokenizer, load_tokenizer

Status = Literal["pass", "fail", "skipped"]

PROBE_PROMPTS: tuple[str, ...] = (
    "The capital of France is",
    "Here is a short list of three fruits:",
    "def fibonacci(n):\n    ",
    "The three primary colors are",
    "Water boils at a temperature of",
    "Once upon a time, in a small village,",
    "The main difference between a CPU and a GPU is",
    "To make a cup of tea, first",
)
PROBE_MAX_TOKENS = 32
MIN_TOKEN_AGREEMENT = 0.5
"""Mean common-prefix share below which two servers are judged to serve different models."""
MIN_LENGTH_AGREEMENT = 0.99


@dataclass
class Gate:
    """The verdict of one parity check."""

    name: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParityReport:
    """Every gate's verdict."""

    gates: list[Gate] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no gate failed."""
        return all(g.status != "fail" for g in self.gates)

    @property
    def failures(self) -> list[Gate]:
        """The gates that failed."""
        return [g for g in self.gates if g.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `parity.json`."""
        return {"passed": self.passed, "gates": [asdict(g) for g in self.gates]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ParityReport:
        """Rebuild from `to_dict` output."""
        return cls([Gate(**g) for g in raw.get("gates", [])])


def probe_prompts(count: int = len(PROBE_PROMPTS), max_tokens: int = PROBE_MAX_TOKENS) -> list[Prompt]:
    """The first `count` prompts of the fixed set of the greedy probe (completions API)."""
    if not 1 <= count <= len(PROBE_PROMPTS):
        raise ValueError(f"the parity probe has 1 to {len(PROBE_PROMPTS)} prompts, not {count}")
    return [Prompt(text=text, output_tokens=max_tokens) for text in PROBE_PROMPTS[:count]]


class Tokens:
    """Encodes text with the model's tokenizer (`tokenizer.json`), or splits characters without one."""

    def __init__(self, tokenizer_path: str | Path | None) -> None:
        found = find_tokenizer(tokenizer_path) if tokenizer_path is not None else None
        self._tokenizer = load_tokenizer(found) if found is not None else None

    @property
    def unit(self) -> str:
        """What a unit of comparison is: `tokens` or `characters`."""
        return "tokens" if self._tokenizer is not None else "characters"

    def ids(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of `text` (code points without a tokenizer)."""
        if self._tokenizer is None:
            return [ord(c) for c in text]
        return list(self._tokenizer.encode(text, add_special_tokens=special).ids)


def prefix_agreement(a: Sequence[int], b: Sequence[int]) -> float:
    """Length of the common prefix over the longer sequence's length (1.0 when both are empty)."""
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return common / longest


def probe_errors(probes: Mapping[str, Sequence[RequestRecord]]) -> list[str]:
    """One line per target whose probe requests failed: how many, and the first error."""
    lines = []
    for name, records in probes.items():
        failed = [r for r in records if not r.ok]
        if failed or not records:
            first = failed[0] if failed else None
            reason = f"{first.error_class}: {first.error_message}" if first else "no request finished"
            lines.append(f"{name}: {len(failed)} of {len(records)} requests failed ({reason})")
    return lines


def token_agreement_gate(
    probes: Mapping[str, Sequence[RequestRecord]],
    baseline: str,
    tokens: Tokens,
    *,
    random_weights: bool,
    random_values: bool = False,
    minimum: float = MIN_TOKEN_AGREEMENT,
) -> Gate:
    """Compare every target's greedy outputs with the baseline's, prompt by prompt.

    The share judged is the mean common prefix; with `random_values` (random weights saved once and
    loaded by every server) it is the share of prompts whose first greedy token agrees. Random
    weights give nearly flat next-token logits, so rounding differences between two servers' kernels
    flip a greedy token within a few dozen steps even on identical weights (on the Llama-2-7B shape,
    7 of 8 first tokens agreed and 26-33% of the tokens), while the first token of another set of
    random weights agrees about once in the vocabulary's size.
    """
    errors = probe_errors(probes)
    if errors:
        return Gate("token_agreement", "fail", "the greedy probe failed: " + "; ".join(errors))
    if random_weights:
        return Gate(
            "token_agreement", "skipped", "random weights on every server: outputs are not expected to agree"
        )
    base = {r.index: r for r in probes[baseline]}
    details: dict[str, Any] = {"unit": tokens.unit, "minimum": minimum, "baseline": baseline, "targets": {}}
    failing: list[str] = []
    for name, records in probes.items():
        if name == baseline:
            continue
        shares: list[float] = []
        exact = 0
        first = 0
        examples: list[dict[str, str]] = []
        for record in records:
            other = base.get(record.index)
            if other is None or not record.ok or not other.ok:
                shares.append(0.0)
                continue
            a, b = tokens.ids(other.output_text or ""), tokens.ids(record.output_text or "")
            share = prefix_agreement(a, b)
            shares.append(share)
            exact += a == b
            first += bool(a and b and a[0] == b[0])
            if a != b and len(examples) < 2:
                examples.append(
                    {
                        "prompt": PROBE_PROMPTS[record.index % len(PROBE_PROMPTS)],
                        baseline: other.output_text or "",
                        name: record.output_text or "",
                    }
                )
        mean = sum(shares) / len(shares) if shares else 0.0
        judged = first / len(shares) if random_values and shares else mean
        details["targets"][name] = {
            "mean_prefix_agreement": mean,
            "exact_matches": exact,
            "first_token_matches": first,
            "prompts": len(shares),
            "examples": examples,
        }
        if judged < minimum:
            failing.append(
                f"{name}'s first greedy {tokens.unit[:-1]} agrees with {baseline}'s "
                f"on {first} of {len(shares)} prompts"
                if random_values
                else f"{name} agrees with {baseline} on {100 * mean:.0f}% of greedy {tokens.unit}"
            )
    if random_values:
        details["judged_on"] = "first_token_matches"
    if failing:
        return Gate(
            "token_agreement",
            "fail",
            "; ".join(failing)
            + f" (minimum {100 * minimum:.0f}%): the servers are not serving the same model",
            details,
        )
    means = ", ".join(f"{n} {100 * d['mean_prefix_agreement']:.0f}%" for n, d in details["targets"].items())
    if random_values:
        firsts = ", ".join(
            f"{n} {d['first_token_matches']}/{d['prompts']}" for n, d in details["targets"].items()
        )
        return Gate(
            "token_agreement",
            "pass",
            f"first greedy {tokens.unit} agree with {baseline}: {firsts} prompts (saved random weights: "
            f"nearly flat logits, so rounding flips later tokens; mean common prefix {means})",
            details,
        )
    return Gate(
        "token_agreement", "pass", f"greedy outputs agree with {baseline}: {means} of {tokens.unit}", details
    )


def usage_gate(
    probes: Mapping[str, Sequence[RequestRecord]],
    sweep: Sequence[RequestRecord],
    tokens: Tokens,
    *,
    random_weights: bool = False,
) -> Gate:
    """Check each server's usage counts against the tokenizer and against each other.

    With random weights the output is arbitrary tokens, whose text need not re-tokenize to the same
    count, so completion tokens are then checked across servers only (the sweep's output lengths).
    """
    problems: list[str] = []
    details: dict[str, Any] = {"targets": {}, "output_checked_against_tokenizer": not random_weights}
    for name, records in probes.items():
        prompt_diffs: list[int] = []
        output_diffs: list[int] = []
        missing = 0
        for record in records:
            if not record.ok:
                continue
            if (
                record.tokens_source != "usage"
                or record.prompt_tokens is None
                or record.output_tokens is None
            ):
                missing += 1
                continue
            text = PROBE_PROMPTS[record.index % len(PROBE_PROMPTS)]
            prompt_diffs.append(record.prompt_tokens - len(tokens.ids(text, special=True)))
            output_diffs.append(record.output_tokens - len(tokens.ids(record.output_text or "")))
        details["targets"][name] = {
            "prompt_minus_tokenizer": prompt_diffs,
            "output_minus_tokenizer": output_diffs,
            "without_usage": missing,
        }
        if missing:
            problems.append(f"{name} sent no usage for {missing} request(s)")
        if tokens.unit == "tokens":
            if any(abs(d) > 1 for d in prompt_diffs):
                problems.append(
                    f"{name} counts prompt tokens unlike the tokenizer "
                    f"(differences {sorted(set(prompt_diffs))})"
                )
            outputs = [r.output_tokens or 0 for r in records if r.ok and r.tokens_source == "usage"]
            if not random_weights and any(
                abs(d) > max(2, 0.1 * n) for d, n in zip(output_diffs, outputs, strict=False)
            ):
                problems.append(
                    f"{name} counts output tokens unlike the tokenizer "
                    f"(differences {sorted(set(output_diffs))})"
                )
    mismatched = _cross_target_mismatches(sweep, "prompt_tokens")
    details["sweep_prompt_token_mismatches"] = mismatched
    if mismatched:
        problems.append(
            f"{mismatched} sweep request(s) have different prompt-token counts on different servers"
        )
    if problems:
        return Gate("usage", "fail", "; ".join(problems), details)
    if tokens.unit != "tokens":
        unit = "(no tokenizer: only cross-server checks)"
    elif random_weights:
        unit = "agree with the tokenizer for prompts (random-weight outputs: checked across servers)"
    else:
        unit = "agree with the tokenizer"
    return Gate(
        "usage",
        "pass",
        f"usage counts {unit}; the same request counts the same prompt tokens everywhere",
        details,
    )


def _cross_target_mismatches(records: Sequence[RequestRecord], attribute: str) -> int:
    """Requests (same level and index, successful everywhere) whose `attribute` differs between targets."""
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    targets = {r.target for r in records}
    for record in records:
        if record.ok and not record.warmup:
            groups.setdefault((record.level, record.index), {})[record.target] = getattr(record, attribute)
    return sum(
        1 for values in groups.values() if len(values) == len(targets) and len(set(values.values())) > 1
    )


def output_length_gate(
    sweep: Sequence[RequestRecord], *, ignore_eos: bool, minimum: float = MIN_LENGTH_AGREEMENT
) -> Gate:
    """Check that `max_tokens` was honoured and output lengths agree request by request."""
    measured = [r for r in sweep if r.ok and not r.warmup]
    if not measured:
        return Gate("output_length", "fail", "no successful measured request to check")
    # With n > 1, output_tokens counts every choice: the bound is n * max_tokens.
    too_long = [
        r for r in measured if r.max_tokens is not None and (r.output_tokens or 0) > r.max_tokens * r.n
    ]
    short = [
        r
        for r in measured
        if ignore_eos and r.max_tokens is not None and (r.output_tokens or 0) < r.max_tokens * r.n
    ]
    groups: dict[tuple[str, int], dict[str, int | None]] = {}
    asked: dict[tuple[str, int], dict[str, int | None]] = {}
    for record in measured:
        groups.setdefault((record.level, record.index), {})[record.target] = record.output_tokens
        asked.setdefault((record.level, record.index), {})[record.target] = record.max_tokens
    # the output length is the workload's: the same request must ask every server for the same length
    asked_apart = [key for key, values in asked.items() if len(set(values.values())) > 1]
    differing = [
        {"level": level, "index": index, "output_tokens": values}
        for (level, index), values in groups.items()
        if len(set(values.values())) > 1
    ]
    targets = {r.target for r in measured}
    paired = [values for values in groups.values() if len(values) == len(targets)]
    agreeing = sum(1 for values in paired if len(set(values.values())) == 1)
    share = agreeing / len(paired) if paired else 0.0
    details = {
        "requests": len(measured),
        "longer_than_max_tokens": len(too_long),
        "shorter_than_max_tokens_with_ignore_eos": len(short),
        "paired_requests": len(paired),
        "length_agreement": share,
        "max_tokens_differing": len(asked_apart),
        "first_differing": differing[:5],
        "ignore_eos": ignore_eos,
        "minimum": minimum,
    }
    problems: list[str] = []
    if too_long:
        by = sorted({r.target for r in too_long})
        problems.append(f"{len(too_long)} output(s) longer than max_tokens ({', '.join(by)})")
    if short:
        by = sorted({r.target for r in short})
        problems.append(
            f"{len(short)} output(s) stopped before max_tokens despite ignore_eos ({', '.join(by)})"
        )
    if asked_apart:
        level, index = asked_apart[0]
        problems.append(
            f"{len(asked_apart)} request(s) asked the servers for different max_tokens "
            f"(first: {level} #{index}: {asked[(level, index)]})"
        )
    if len(targets) > 1 and share < minimum:
        problems.append(
            f"the same request got the same output length on every server in only {100 * share:.1f}% "
            f"of {len(paired)} cases"
        )
    if problems:
        return Gate("output_length", "fail", "; ".join(problems), details)
    return Gate(
        "output_length",
        "pass",
        f"max_tokens honoured; output lengths agree on {100 * share:.0f}% of {len(paired)} paired requests",
        details,
    )
