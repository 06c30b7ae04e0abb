"""The combined decoder on real photos: more correct reads than either library, never a wrong one."""

from __future__ import annotations

import pytest

from vision.evaluation import NO_CODE_SETS

# Measured on the shared photos (see docs/benchmarks.md); the combined decoder must not regress.
# set: (images, combined >=, raw zxing-cpp, raw pyzbar)
MEASURED = {
    "ean13-1": (16, 15, 14, 10),
    "ean13-2": (16, 15, 6, 13),
    "ean8-1": (9, 9, 9, 7),
    "qrcode-1": (8, 8, 8, 8),
    "qrcode-2": (56, 56, 53, 26),
    "qrcode-3": (18, 18, 18, 17),
    "upca-1": (5, 5, 5, 5),
    "upca-2": (26, 20, 16, 16),
}


@pytest.mark.parametrize("set_name", sorted(MEASURED))
def test_combined_reads_at_least_measured_level(dataset_scores, set_name: str) -> None:
    images, floor, _, _ = MEASURED[set_name]
    score = dataset_scores.combined[set_name]
    assert score.images == images
    assert score.correct >= floor, score.failures


@pytest.mark.parametrize("set_name", sorted(MEASURED))
def test_combined_beats_each_library_where_it_can(dataset_scores, set_name: str) -> None:
    images = MEASURED[set_name][0]
    combined = dataset_scores.combined[set_name].correct
    for library, single in (("zxing-cpp", dataset_scores.zxing), ("pyzbar", dataset_scores.pyzbar)):
        measured = MEASURED[set_name][2 if library == "zxing-cpp" else 3]
        assert combined >= single[set_name].correct
        if measured < images:
            # Strictly better wherever the library alone missed something (measured, see MEASURED).
            assert combined > single[set_name].correct, (library, single[set_name].failures)


def test_no_misreads_anywhere(dataset_scores) -> None:
    misreads = {n: s.failures for n, s in dataset_scores.combined.items() if s.misread}
    assert not misreads


def test_libraries_alone_do_misread(dataset_scores) -> None:
    """Why validation and voting exist: each library alone returns wrong codes on these photos."""
    assert sum(s.misread for s in dataset_scores.zxing.values()) >= 1
    assert sum(s.misread for s in dataset_scores.pyzbar.values()) >= 1


@pytest.mark.parametrize("set_name", sorted(NO_CODE_SETS))
def test_no_false_positives(dataset_scores, set_name: str) -> None:
    score = dataset_scores.combined[set_name]
    assert score.images >= 20
    assert score.false_positive == 0, score.failures
    assert not any(s.false_positive for s in dataset_scores.combined.values())


def test_total_is_better_than_both_libraries(dataset_scores) -> None:
    total = {k: sum(s.correct for s in getattr(dataset_scores, k).values()) for k in ("combined", "zxing", "pyzbar")}
    assert total["combined"] >= 146
    assert total["combined"] > total["zxing"] > total["pyzbar"]
