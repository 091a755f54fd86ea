"""A Transformers ``TrainerCallback`` that records what a fine-tuning run should disclose
and writes it as a tuneprint disclosure (``pip install "tuneprint[hf]"``)::

    from tuneprint.hf import TuneprintCallback
    trainer = Trainer(..., callbacks=[TuneprintCallback("disclosure.yaml")])

Recorded: tokens of the training forward passes with padding (each batch's ``input_ids``
elements) and without (its ``attention_mask`` sum), tokens of evaluation passes, wall-clock
time and start time, the GPUs (count and model; none on a CPU run, and then nothing is
written about GPUs), their average utilisation (NVML, through nvidia-ml-py, when present)
and the average CPU utilisation (psutil), the base model's name and parameter count, and
the method (full, or LoRA and QLoRA detected through PEFT when it is installed).

No callback event receives the batch, so tokens are counted by a forward pre-hook on the
model, registered when training begins and removed when it ends; every process counts its
own batches and the counts are summed over the processes at the end, and only the world
process zero samples utilisation, writes the file and prints. Transformers' ``total_flos``
(6 x padded tokens x every non-embedding parameter) is written as a comment, never as
measured operations.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from .. import __version__
from ..api import RulesetLike, estimate, read_disclosure
from ..core.problems import TuneprintError
from .mapping import Collector, checked, convert, disclosure_document, disclosure_yaml, ruleset_of

SAMPLE_SECONDS = 2.0  # how often GPU utilisation is sampled
DEFAULT_OUTPUT = "tuneprint-disclosure.yaml"
PERCENT_UNIT = "percent"  # what NVML and psutil report utilisation in
SECONDS_UNIT = "s"
ADAPTER_MARK = "lora_"  # LoRA adapter weights are named lora_A, lora_B, lora_embedding_A...
PACKED_4BIT = "Params4bit"  # bitsandbytes stores two 4-bit weights per element
FOUR_BIT_ELEMENTS = 2
SOURCE = f"tuneprint {__version__} TuneprintCallback"


class TokenCounter:
    """Counts the tokens of a model's forward passes: padded (``input_ids`` elements) and
    unpadded (``attention_mask`` sum) in training mode, padded in evaluation mode."""

    def __init__(self) -> None:
        self.padded = 0
        self.eval_padded = 0
        self.unmasked = 0  # training batches without an attention mask
        self.batches = 0
        self._unpadded: Any = 0  # a tensor on the batch's device: summed without a sync
        self._handle: Any = None

    def attach(self, model: Any) -> None:
        """Count the forward passes of ``model`` from now on."""
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def detach(self) -> None:
        """Stop counting."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids")
        if ids is None and args and isinstance(args[0], torch.Tensor):
            ids = args[0]
        if not isinstance(ids, torch.Tensor):
            return
        if not module.training:
            self.eval_padded += ids.numel()
            return
        self.batches += 1
        self.padded += ids.numel()
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor):
            self._unpadded = self._unpadded + mask.sum()
        else:
            self.unmasked += 1

    @property
    def unpadded(self) -> int:
        """Tokens of the training passes without padding."""
        value = self._unpadded
        return int(value.item()) if isinstance(value, torch.Tensor) else int(value)

    def totals(self, device: Any) -> tuple[int, int, int, int, int]:
        """(padded, unpadded, evaluation, unmasked batches, batches), summed over every
        process of a distributed run (every process must call this)."""
        counts = [self.padded, self.unpadded, self.eval_padded, self.unmasked, self.batches]
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            tensor = torch.tensor(counts, dtype=torch.int64, device=device)
            dist.all_reduce(tensor)
            counts = [int(v) for v in tensor.tolist()]
        return counts[0], counts[1], counts[2], counts[3], counts[4]


class Sampler:
    """Samples the utilisation of the GPUs process zero drives, every SAMPLE_SECONDS, in a
    background thread (NVML through nvidia-ml-py, as torch.cuda.utilization reads it)."""

    def __init__(self, devices: list[int], every: float) -> None:
        self.devices = devices
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start sampling; False when NVML cannot be read here."""
        if not self.devices or self._read() is None:
            return False
        self._thread = threading.Thread(target=self._run, name="tuneprint-gpu", daemon=True)
        self._thread.start()
        return True

    def _read(self) -> float | None:
        try:
            values = [float(torch.cuda.utilization(d)) for d in self.devices]
        except Exception:  # no nvidia-ml-py, no driver, or a device NVML does not know
            return None
        return sum(values) / len(values)

    def _run(self) -> None:
        while True:
            value = self._read()
            if value is not None:
                self.samples.append(value)
            if self._stop.wait(self.every):
                return

    def stop(self) -> float | None:
        """Stop; the mean utilisation in percent (None without a sample)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.samples:
            return None
        return sum(self.samples) / len(self.samples)


def gpu_inventory(args: Any) -> tuple[int, list[str], list[int]]:
    """The GPUs a run uses: their count over every process, the model names process zero
    sees, and process zero's device indexes. No GPU (0, [], []) unless the run is on CUDA."""
    device: Any = getattr(args, "device", None)
    if getattr(device, "type", None) != "cuda" or not torch.cuda.is_available():
        return 0, [], []
    per_process = max(1, int(getattr(args, "n_gpu", 1) or 1))
    world = max(1, int(getattr(args, "world_size", 1) or 1))
    if world > 1:
        local = [device.index if device.index is not None else torch.cuda.current_device()]
    else:
        local = list(range(per_process))
    return world * per_process, [gpu_name(i) for i in local], local


def gpu_name(index: int) -> str:
    """A GPU's model name: NVML's (nvidia-ml-py) when it can be read, else CUDA's."""
    try:
        import pynvml

        pynvml.nvmlInit()
        nvml_index = torch.cuda._get_nvml_device_index(index)
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(nvml_index))
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # no nvidia-ml-py, no driver, or an NVML error
        return str(torch.cuda.get_device_name(index))


def _peft_model(model: Any) -> Any:
    try:
        from peft import PeftModel
    except ImportError:
        return None
    return model if isinstance(model, PeftModel) else None


def _quantised_4bit(model: Any) -> bool:
    for candidate in (model, getattr(model, "base_model", None)):
        if candidate is not None and getattr(candidate, "is_loaded_in_4bit", False):
            return True
    config = getattr(getattr(model, "config", None), "quantization_config", None)
    if isinstance(config, dict):
        return bool(config.get("load_in_4bit"))
    return bool(getattr(config, "load_in_4bit", False))


def model_facts(model: Any) -> dict[str, Any]:
    """What the model says about itself: its name, the base model's parameter count
    (adapters excluded, 4-bit weights unpacked), the fine-tuning method and why."""
    peft = _peft_model(model)
    params = 0
    trainable = 0
    total = 0
    for name, p in model.named_parameters():
        n = p.numel() * (FOUR_BIT_ELEMENTS if type(p).__name__ == PACKED_4BIT else 1)
        total += n
        if p.requires_grad:
            trainable += n
        if ADAPTER_MARK not in name:
            params += n
    facts: dict[str, Any] = {"params": params}
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or getattr(model, "name_or_path", "")
    if peft is not None:
        adapter = peft.peft_config.get(getattr(peft, "active_adapter", "default"))
        name = getattr(adapter, "base_model_name_or_path", None) or name
        kind = str(getattr(getattr(adapter, "peft_type", None), "value", "")).lower()
        if kind == "lora":
            facts["method"] = "qlora" if _quantised_4bit(model) else "lora"
            facts["method_why"] = (
                "PEFT LoRA adapter on a 4-bit quantised base model"
                if facts["method"] == "qlora"
                else "PEFT LoRA adapter"
            )
        else:
            facts["method_note"] = f"PEFT method {kind or 'unknown'}: not one tuneprint counts"
    elif trainable == total:
        facts["method"] = "full"
        facts["method_why"] = "every parameter trainable, no PEFT adapter"
    else:
        facts["method_note"] = (
            f"{trainable} of {total} parameters trainable without a PEFT adapter: neither full "
            "fine-tuning nor LoRA, method not disclosed"
        )
    facts["name"] = str(name or "")
    return facts


def _model_name(written: str) -> list[str]:
    """The names a model may go by in the ruleset's table: as written, then without the
    organisation of a hub id ("org/name" -> "name"). A local folder is no name."""
    if not written or written.startswith((".", "/", "~")) or Path(written).exists():
        return []
    names = [written]
    if "/" in written:
        names.append(written.split("/")[-1])
    return names


class TuneprintCallback(TrainerCallback):  # type: ignore[misc]
    """Records a training run for tuneprint and writes a disclosure file at its end.

    ``output``: the disclosure file to write (YAML). ``base_model``: the base model's name
    as the ruleset knows it (default: the model's own name, when the ruleset knows it).
    ``rules``: the ruleset the file is checked against (default: the newest released).
    ``print_estimate``: print the estimate when training ends. ``disclosure_id``: the id
    written (default: the run name)."""

    def __init__(
        self,
        output: str | Path = DEFAULT_OUTPUT,
        *,
        base_model: str | None = None,
        rules: RulesetLike = None,
        print_estimate: bool = False,
        disclosure_id: str | None = None,
        sample_seconds: float = SAMPLE_SECONDS,
    ) -> None:
        self.output = Path(output)
        self.base_model = base_model
        self.rules = rules
        self.print_estimate = print_estimate
        self.disclosure_id = disclosure_id
        self.sample_seconds = sample_seconds
        self.tokens = TokenCounter()
        self.document: dict[str, Any] | None = None
        self.notes: list[str] = []
        self._start: datetime | None = None
        self._clock = 0.0
        self._sampler: Sampler | None = None
        self._gpus: tuple[int, list[str], list[int]] = (0, [], [])
        self._model: dict[str, Any] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start counting tokens (every process) and sampling utilisation (process zero)."""
        model = kwargs.get("model")
        self._start = datetime.now(timezone.utc)
        self._clock = time.monotonic()
        self.tokens = TokenCounter()
        if model is not None:
            self.tokens.attach(model)
            if state.is_world_process_zero:
                self._model = model_facts(model)
        if not state.is_world_process_zero:
            return
        self._gpus = gpu_inventory(args)
        self._sampler = Sampler(self._gpus[2], self.sample_seconds)
        self._sampler.start()
        try:
            import psutil

            psutil.cpu_percent(interval=None)  # the next call averages from now
        except ImportError:
            pass

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Sum the counts over the processes; on process zero, write the disclosure."""
        elapsed = time.monotonic() - self._clock
        self.tokens.detach()
        totals = self.tokens.totals(getattr(args, "device", None))
        if not state.is_world_process_zero:
            return
        gpu_percent = self._sampler.stop() if self._sampler is not None else None
        cpu_percent = None
        try:
            import psutil

            cpu_percent = float(psutil.cpu_percent(interval=None))
        except ImportError:
            pass
        world = max(1, int(getattr(args, "world_size", 1) or 1))
        self.document, self.notes = self._disclosure(
            args, state, totals, elapsed, gpu_percent, cpu_percent, world
        )
        self.output.write_text(disclosure_yaml(self.document, self.notes), encoding="utf-8")
        if self.print_estimate:
            self._print()

    def _disclosure(
        self,
        args: Any,
        state: Any,
        totals: tuple[int, int, int, int, int],
        elapsed: float,
        gpu_percent: float | None,
        cpu_percent: float | None,
        world: int,
    ) -> tuple[dict[str, Any], list[str]]:
        rs = ruleset_of(self.rules)
        out = Collector(rs)
        padded, unpadded, evaluation, unmasked, batches = totals
        over = f"summed over {world} processes" if world > 1 else "one process"

        def add(field_name: str, value: Any, why: str) -> None:
            if field_name not in rs.fields:
                out.note(f"{field_name} = {value!r} not written: ruleset has no such field")
                return
            _, problem = checked(rs, field_name, value, SOURCE, None, field_name)
            if problem is not None:
                out.note(f"{field_name} = {value!r} not written: {problem.message}")
                return
            out.add(field_name, value, f"{SOURCE}: {why}")

        if batches:
            add(
                "training_tokens",
                padded,
                f"input_ids elements of {batches} training forward passes (padding "
                f"included), counted by a forward pre-hook on the model, {over}",
            )
            if unmasked:
                out.note(
                    f"{unmasked} of {batches} training batches had no attention_mask: tokens "
                    "without padding not counted"
                )
            else:
                add(
                    "unpadded_tokens",
                    unpadded,
                    f"attention_mask sum of {batches} training forward passes (padding not "
                    f"counted), {over}",
                )
        else:
            out.note("no training forward pass seen: no token count written")
        add(
            "evaluation_tokens",
            evaluation,
            f"input_ids elements of the evaluation forward passes during training, {over}",
        )
        if self._start is not None:
            add(
                "start_time",
                self._start.replace(tzinfo=None).isoformat(timespec="seconds"),
                "when training began, in UTC",
            )
        add(
            "reserved_hours",
            convert(rs, elapsed, SECONDS_UNIT, rs.fields["reserved_hours"].unit),
            "wall-clock time from the start to the end of training (set-up before it and "
            "saving after it not counted)",
        )
        if state.epoch:
            add("epochs", float(state.epoch), "epochs completed (Trainer state)")
        count, names, _ = self._gpus
        if count:
            add(
                "gpu_count",
                count,
                f"CUDA GPUs of the run: {world} processes x {count // world} each",
            )
            kinds = sorted(set(names))
            if len(kinds) == 1:
                from .mapping import name_problem

                problem = name_problem(rs, "gpu_model", kinds[0])
                if problem is None:
                    add("gpu_model", kinds[0], "the GPU model process zero runs on")
                else:
                    out.note(f"gpu_model {kinds[0]!r} not written: {problem}")
            else:
                out.note(f"several GPU models ({', '.join(kinds)}): gpu_model not written")
            if gpu_percent is not None:
                add(
                    "gpu_utilization",
                    convert(rs, gpu_percent, PERCENT_UNIT, rs.fields["gpu_utilization"].unit),
                    f"mean NVML utilisation (share of time a kernel ran) of process zero's GPUs, "
                    f"sampled every {self.sample_seconds:g} s",
                )
            else:
                out.note("GPU utilisation not measurable here (nvidia-ml-py or NVML missing)")
        else:
            out.note("no GPU used (the run is not on CUDA): nothing written about GPUs")
        if cpu_percent is not None:
            add(
                "cpu_utilization",
                convert(rs, cpu_percent, PERCENT_UNIT, rs.fields["cpu_utilization"].unit),
                "mean system-wide CPU utilisation over training (psutil) on process zero's "
                "machine",
            )
        facts = self._model
        if facts.get("params"):
            add(
                "base_model_params",
                facts["params"],
                "parameters of the base model (adapter weights not counted)",
            )
        if facts.get("method"):
            add("fine_tuning_method", facts["method"], facts["method_why"])
        elif facts.get("method_note"):
            out.note(facts["method_note"])
        self._base_model(rs, out, add, facts)
        if state.total_flos:
            out.note(
                f"transformers' total_flos = {state.total_flos:g} FLOP (6 x padded tokens x "
                "every non-embedding parameter, frozen ones included): an estimate, not "
                "written as measured operations"
            )
        run = self.disclosure_id or str(getattr(args, "run_name", "") or "hf-trainer-run")
        run_id = re.sub(r"[^A-Za-z0-9._-]+", "-", run).strip("-") or "hf-trainer-run"
        document = disclosure_document(
            run_id,
            f"Transformers Trainer run {run}, recorded by {SOURCE}",
            f"{SOURCE} (transformers Trainer, {state.global_step} optimizer steps)",
            out.entries,
        )
        read_disclosure(dict(document), rs, name=str(self.output))  # what estimate will take
        notes = [f"recorded by {SOURCE} for ruleset {rs.label}", *out.notes]
        return document, notes

    def _base_model(self, rs: Any, out: Collector, add: Any, facts: dict[str, Any]) -> None:
        from .mapping import name_problem

        if self.base_model:
            add("base_model", self.base_model, "given to the callback")
            return
        candidates = _model_name(facts.get("name", ""))
        for candidate in candidates:
            if name_problem(rs, "base_model", candidate) is None:
                add("base_model", candidate, "the model's own name (config name_or_path)")
                return
        if candidates:
            out.note(
                f"model name {candidates[0]!r} is not a base model of the ruleset: base_model "
                "not written (give base_model= to the callback)"
            )
        else:
            out.note("the model has no hub name: base_model not written")

    def _print(self) -> None:
        rs = ruleset_of(self.rules)
        try:
            print(estimate(self.output, rs).table())
        except TuneprintError as exc:
            print(f"tuneprint could not estimate {self.output}:\n{exc}")
