"""docs/ablations.md and the README show the committed results: each report block equals its rebuild from the
results files."""

import ablation_docs

SUITES = {"configs/ablations/blog_cpu.yaml", "configs/ablations/precision_cpu.yaml",
          "configs/ablations/fidelity_cpu.yaml", "configs/ablations/chairs_cpu_seeds.yaml"}


def test_the_page_has_a_block_for_each_published_suite():
    assert {suite for suite, _, _ in ablation_docs.blocks(ablation_docs.DOC.read_text())} == SUITES


def test_every_report_block_is_its_rebuild_from_the_committed_results():
    stale = []
    for page in ablation_docs.PAGES:
        text = page.read_text()
        stale += [(page.name, suite, parts) for (suite, parts, body), (_, _, new) in
                  zip(ablation_docs.blocks(text), ablation_docs.blocks(ablation_docs.rebuilt(text))) if body != new]
    assert not stale, f"stale report blocks {stale}: run `python tests/ablation_docs.py`"


def test_the_readme_shows_the_blog_suites_verdicts_that_hold():
    assert ("configs/ablations/blog_cpu.yaml", "held") in {(s, p) for s, p, _ in
                                                          ablation_docs.blocks(ablation_docs.PAGES[1].read_text())}


def test_a_block_is_rebuilt_in_place_and_the_text_around_it_is_kept():
    doc = ("before\n<!-- report configs/ablations/precision_cpu.yaml status -->\nold text\n<!-- /report -->\n"
           "after\n")
    status = ablation_docs.report_parts("configs/ablations/precision_cpu.yaml")["status"]
    assert status.startswith("Finished trainings: ")
    assert ablation_docs.rebuilt(doc) == doc.replace("old text\n", status + "\n")


def test_a_block_reads_the_trainings_its_settings_name_whatever_this_cpu_resolves_auto_to():
    doc = ("<!-- report configs/ablations/chairs_cpu_seeds.yaml status set=train.mixed_precision=none -->\n"
           "<!-- /report -->\n")
    status = ablation_docs.blocks(ablation_docs.rebuilt(doc))[0][2]
    assert "Every run with `train.mixed_precision=none` (`--set`)." in status
    assert "Precision `auto`" not in status  # no run is left at auto: the same block on every CPU
    float32 = ablation_docs.report_parts("configs/ablations/chairs_cpu_seeds.yaml", ("train.mixed_precision=none",))
    bf16 = ablation_docs.report_parts("configs/ablations/chairs_cpu_seeds.yaml", ("train.mixed_precision=mixed_bfloat16",))
    assert float32["runs"] != bf16["runs"]  # two sets of trainings in the one results file
