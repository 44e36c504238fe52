"""The generator's truth goes through the curation side's MOT module (lsvid.mot), which
lsvid.synth re-exports as part of its public API."""
from __future__ import annotations

import lsvid.mot
import lsvid.synth
from lsvid.synth import MOT_COLUMNS, read_mot, read_truth


def test_synth_reexports_the_mot_functions_of_lsvid_mot():
    for name in ("read_mot", "write_mot", "mot_frame", "MOT_COLUMNS"):
        assert getattr(lsvid.synth, name) is getattr(lsvid.mot, name), name
        assert name in lsvid.synth.__all__


def test_written_truth_reads_back_in_the_mot_layout(footage):
    root, manifest = footage
    entry = manifest["videos"][0]
    gt = read_mot(root / entry["truth"])
    assert list(gt.columns) == list(MOT_COLUMNS) and len(gt) == entry["boxes"]
    assert (root / entry["truth"]).read_text() == lsvid.mot.format_mot(gt)  # fixed formats: the bytes repeat
    assert manifest["mot"]["columns"] == list(MOT_COLUMNS) and manifest["mot"]["doc"] == lsvid.mot.MOT_DOC
    all_truth = read_truth(root)
    assert list(all_truth.columns) == ["camera", "slot", *MOT_COLUMNS]
