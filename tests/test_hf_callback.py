"""The Transformers callback on a tiny randomly initialised GPT-2 built from a config,
trained a few steps on CPU with padded batches of uneven lengths (nothing downloaded):
padded, unpadded and evaluation token counts equal the batches', the file it writes is
a disclosure `tuneprint estimate` takes as it is, LoRA is detected through PEFT, only
process zero writes, and the GPU and model probes read what they are given."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tuneprint
import yaml

from tests.conftest import NEWEST

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may be downloaded
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
    if os.environ.get("CI"):
        raise RuntimeError("torch and transformers are missing: .ci/run installs the hf extra")
    pytest.skip("the hf extra (torch, transformers) is not installed", allow_module_level=True)

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
from tuneprint.hf import TuneprintCallback
from tuneprint.interop.hf import gpu_inventory, model_facts

VOCAB = 64
EVAL_MARK = VOCAB - 1  # evaluation examples start with this token, training ones never do
LENGTHS = [3, 7, 5, 12, 9, 4, 11, 6, 8, 10]  # uneven, so each batch pads to its longest
EVAL_LENGTHS = [5, 9, 2, 7]
EPOCHS = 2


def tiny_model() -> Any:
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=64)
    return GPT2LMHeadModel(config)


def examples(lengths: list[int], first: int | None = None) -> list[dict[str, list[int]]]:
    out = []
    for i, n in enumerate(lengths):
        ids = [1 + (i * 7 + j) % (EVAL_MARK - 2) for j in range(n)]
        if first is not None:
            ids[0] = first
        out.append({"input_ids": ids})
    return out


class PaddingCollator:
    """Pads each batch to its longest sequence and records every batch it makes."""

    def __init__(self) -> None:
        self.train: list[tuple[int, int]] = []  # (input_ids elements, attention mask sum)
        self.eval: list[int] = []

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        longest = max(len(b["input_ids"]) for b in batch)
        ids = torch.zeros(len(batch), longest, dtype=torch.long)
        mask = torch.zeros(len(batch), longest, dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            mask[i, :n] = 1
        if int(ids[0, 0]) == EVAL_MARK:
            self.eval.append(ids.numel())
        else:
            self.train.append((ids.numel(), int(mask.sum())))
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": ids.masked_fill(mask == 0, -100),
        }


def train(tmp_path: Path, model: Any, callback: TuneprintCallback, **options: Any) -> Any:
    collator = PaddingCollator()
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=3,
        per_device_eval_batch_size=2,
        num_train_epochs=options.pop("epochs", EPOCHS),
        gradient_accumulation_steps=2,
        report_to=[],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
        **options,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=examples(LENGTHS),
        eval_dataset=examples(EVAL_LENGTHS, first=EVAL_MARK),
        data_collator=collator,
        callbacks=[callback],
    )
    trainer.train()
    return collator


def test_tokens_time_and_model_of_a_padded_run(tmp_path: Path, capsys: Any, cli: Any) -> None:
    output = tmp_path / "disclosure.yaml"
    callback = TuneprintCallback(output, rules=NEWEST, print_estimate=True)
    model = tiny_model()
    params = sum(p.numel() for p in model.parameters())
    batches = train(tmp_path, model, callback, eval_strategy="steps", eval_steps=2)
    printed = capsys.readouterr().out
    assert "total_emissions_kgco2e" in printed  # the estimate, printed at the end

    padded = sum(n for n, _ in batches.train)
    unpadded = sum(m for _, m in batches.train)
    assert unpadded == EPOCHS * sum(LENGTHS)  # every example once per epoch, no padding
    assert padded > unpadded  # uneven lengths: the batches carry padding
    assert batches.eval  # evaluation ran during training, and is counted apart
    doc = yaml.safe_load(output.read_text())
    got = {k: v["value"] for k, v in doc["values"].items()}
    assert got["training_tokens"] == padded
    assert got["unpadded_tokens"] == unpadded
    assert got["evaluation_tokens"] == sum(batches.eval)
    assert got["base_model_params"] == params
    assert got["fine_tuning_method"] == "full"
    assert got["epochs"] == EPOCHS
    assert 0 < got["reserved_hours"] < 1
    assert "gpu_count" not in got and "gpu_model" not in got and "gpu_utilization" not in got
    assert "forward pre-hook" in doc["values"]["training_tokens"]["source"]
    text = output.read_text()
    assert "no GPU used" in text and "total_flos" in text and "not written as measured" in text
    code, out, err = cli("estimate", output, "--format", "json")
    assert code == 0, err  # the file is a disclosure as it is
    assert json.loads(out)["disclosure"]["id"] == doc["id"]


# peft reads an attribute transformers 5 deprecates: their warning, not ours
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_lora_is_detected_through_peft(tmp_path: Path) -> None:
    if importlib.util.find_spec("peft") is None:
        if os.environ.get("CI"):
            pytest.fail("peft is missing: .ci/run installs it")
        pytest.skip("peft is not installed")
    from peft import LoraConfig, get_peft_model

    model = tiny_model()
    model.config._name_or_path = "meta-llama/Llama-2-7b-hf"  # a hub id the ruleset knows
    base = sum(p.numel() for p in model.parameters())
    lora = get_peft_model(
        model, LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn"], fan_in_fan_out=True)
    )
    assert sum(p.numel() for p in lora.parameters()) > base
    output = tmp_path / "lora.yaml"
    train(tmp_path, lora, TuneprintCallback(output, rules=NEWEST), epochs=1)
    got = {k: v["value"] for k, v in yaml.safe_load(output.read_text())["values"].items()}
    assert got["fine_tuning_method"] == "lora"
    assert got["base_model_params"] == base  # adapter weights not counted
    assert got["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert got["unpadded_tokens"] == sum(LENGTHS)
    assert tuneprint.read_disclosure(output, NEWEST).values["base_model"] == "llama-2-7b"


def _fake_run(is_zero: bool) -> tuple[Any, Any, Any]:
    args = SimpleNamespace(device=torch.device("cpu"), world_size=1, n_gpu=0, run_name="r")
    state = SimpleNamespace(
        is_world_process_zero=is_zero, epoch=1.0, total_flos=0.0, global_step=1
    )
    return args, state, SimpleNamespace()


def test_only_process_zero_writes(tmp_path: Path) -> None:
    model = tiny_model()
    model.train()
    batch = torch.ones(2, 5, dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    for zero in (False, True):
        output = tmp_path / f"zero-{zero}.yaml"
        callback = TuneprintCallback(output, rules=NEWEST, disclosure_id="fake run")
        args, state, control = _fake_run(zero)
        callback.on_train_begin(args, state, control, model=model)
        model(input_ids=batch, attention_mask=mask)
        callback.on_train_end(args, state, control, model=model)
        assert (callback.tokens.padded, callback.tokens.unpadded) == (10, 8)  # both count
        assert output.exists() == zero
    doc = yaml.safe_load(output.read_text())
    assert doc["id"] == "fake-run"
    model(input_ids=batch)  # the hook is gone after training
    assert callback.tokens.padded == 10


def test_gpu_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = SimpleNamespace(device=torch.device("cpu"), world_size=1, n_gpu=0)
    assert gpu_inventory(cpu) == (0, [], [])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"NVIDIA A100-SXM4-80GB #{i}")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    ddp = SimpleNamespace(device=torch.device("cuda", 0), world_size=4, n_gpu=1)
    count, names, local = gpu_inventory(ddp)
    assert (count, local) == (4, [0]) and names[0].startswith("NVIDIA A100-SXM4-80GB")
    dp = SimpleNamespace(device=torch.device("cuda", 0), world_size=1, n_gpu=2)
    assert gpu_inventory(dp)[0::2] == (2, [0, 1])


def test_model_probe_unpacks_4bit_weights_and_reports_partial_training() -> None:
    class Params4bit(torch.nn.Parameter):  # bitsandbytes' class name: two weights an element
        pass

    layer = torch.nn.Linear(4, 4, bias=False)
    layer.weight = Params4bit(torch.zeros(4, 2))
    assert model_facts(layer)["params"] == 16
    model = tiny_model()
    for p in model.transformer.h[0].parameters():
        p.requires_grad = False
    facts = model_facts(model)
    assert "method" not in facts and "without a PEFT adapter" in facts["method_note"]
