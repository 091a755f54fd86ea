"""docs/auditor-workflow.md's commands, exactly as written, in a copy of the repository:
each exits 0, each step shows what the guide says it shows, and the checkout's rules/
gets no new version (the golden results stay as they are)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.doc_commands import ROOT, commands, repository_copy, run, sh_blocks

GUIDE = (ROOT / "docs" / "auditor-workflow.md").read_text(encoding="utf-8")
NAMES = ("new", "edit", "check", "lint", "rules diff", "diff", "explain", "release")
DRAFT_WARNING = "warning: audit/2.5 is a draft (not released): results may change"


def test_the_workflow_runs_as_written_and_leaves_rules_alone(tmp_path: Path) -> None:
    (block,) = [b for b in sh_blocks(GUIDE) if "tuneprint rules new" in b]
    steps = commands(block)
    assert [c.text.split()[:3] for c in steps] == [
        ["tuneprint", "rules", "new"],
        ["cat", ">", "audit/2.5/normalize/usage.yaml"],
        ["tuneprint", "rules", "check"],
        ["tuneprint", "rules", "lint"],
        ["tuneprint", "rules", "diff"],
        ["tuneprint", "diff", "--rules"],
        ["tuneprint", "explain", "fixtures/case_c_seed_disclosure.yaml"],
        ["tuneprint", "rules", "release"],
    ]
    shipped = sorted(p.name for p in (ROOT / "rules").iterdir())
    repository = repository_copy(tmp_path / "repository")
    outputs = []
    for step in steps:
        done = run(step, repository)
        assert done.returncode == step.exit == 0, (step.text, done.stdout, done.stderr)
        outputs.append((done.stdout, done.stderr))
    new = repository / "audit" / "2.5"
    manifest = yaml.safe_load((new / "ruleset.yaml").read_text(encoding="utf-8"))
    assert manifest["extends"] == "2.3" and manifest["version"] == "2.5"
    out = dict(zip(NAMES, (o for o, _ in outputs), strict=True))
    err = dict(zip(NAMES, (e for _, e in outputs), strict=True))
    assert "created audit/2.5" in out["new"]
    assert "ok: scope3-fine-tuning@2.5" in out["check"]
    assert (
        "~ rule use_life_days.one_year" in out["rules diff"]
        and "value: 365 -> 730" in out["rules diff"]
    )
    assert "~ emissions_per_inference_gco2e" in out["diff"] and "(-50.0%)" in out["diff"]
    assert "because rule use_life_days.one_year changed" in out["diff"]
    assert "use_life_days = 730 d" in out["explain"]
    assert "audit/2.5/normalize/usage.yaml" in out["explain"]
    assert DRAFT_WARNING in err["diff"] and DRAFT_WARNING in err["explain"]
    assert (
        "released scope3-fine-tuning@2.5" in out["release"] and (new / "MANIFEST.sha256").is_file()
    )
    assert sorted(p.name for p in (ROOT / "rules").iterdir()) == shipped
    assert not (ROOT / "audit").exists()
