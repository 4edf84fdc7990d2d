"""MOS, bootstrap CIs and rater agreement on ratings whose answers are known."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from sr4det.errors import InputError
from sr4det.mos import Study, format_report, mos_report, mos_table, plot_report
from sr4det.mos.report import _draw_weights, _rank, _weighted_means, rater_agreement


def _fill(db, score_of):
    """Every rater in ``score_of(rater, scene, method) -> int | None`` rates every image (None: skips it)."""
    s = Study(db)
    conn = sqlite3.connect(db)
    images = conn.execute(
        "SELECT i.id, s.name, m.name FROM images i JOIN sources s ON s.id = i.source_id JOIN methods m ON m.id = i.method_id"
    ).fetchall()
    conn.close()
    for rater in ("r0", "r1", "r2", "r3"):
        rid, _ = s.add_rater(rater)
        for image_id, scene, method in images:
            score = score_of(rater, scene, method)
            if score is not None:
                assert s.add_rating(rid, image_id, score)
    return images


def test_mos_equals_mean_and_ci_brackets_it(study):
    rng = np.random.default_rng(0)
    base = {"hr": 4.5, "bicubic": 2.0, "bilinear": 1.7, "tiny": 3.0}
    table_scores: dict[str, list[int]] = {m: [] for m in base}

    def score(rater, scene, method):
        v = int(np.clip(round(base[method] + rng.normal(0, 0.8)), 1, 5))
        table_scores[method].append(v)
        return v

    _fill(study, score)
    table = mos_table(study)
    assert list(table) == ["hr", "bicubic", "bilinear", "tiny"]
    for method, row in table.items():
        assert row["n"] == 12
        assert row["n_raters"] == 4
        assert row["n_scenes"] == 3
        assert row["mos"] == pytest.approx(np.mean(table_scores[method]))
        assert row["ci_low"] <= row["mos"] <= row["ci_high"]
        assert 1 <= row["ci_low"]
        assert row["ci_high"] <= 5
        assert row["ci_high"] - row["ci_low"] > 0.05  # noisy ratings: a real interval
    assert table["hr"]["mos"] > table["bicubic"]["mos"]
    # deterministic for a seed; the seed moves the interval, never the MOS
    assert mos_table(study) == table
    other = mos_table(study, seed=1)
    assert all(other[m]["mos"] == table[m]["mos"] for m in table)
    assert any(other[m]["ci_low"] != table[m]["ci_low"] for m in table)


def test_unanimous_ratings_give_a_zero_width_interval(study):
    fixed = {"hr": 5, "bicubic": 2, "bilinear": 1, "tiny": 4}
    _fill(study, lambda r, s, m: fixed[m])
    report = mos_report(study, n_boot=200)
    for m, v in fixed.items():
        row = report["methods"][m]
        assert row["mos"] == row["ci_low"] == row["ci_high"] == v
        if m != "bicubic":
            assert row["delta_bicubic"] == v - 2
            assert row["delta_bicubic_ci"] == [v - 2, v - 2]


def test_interval_narrows_with_more_raters(tmp_path, study_template):
    """Same per-rating noise, 4 vs 16 raters: the CI must shrink (as ~1/sqrt(n))."""
    from sr4det.mos.report import _bootstrap_means

    rng = np.random.default_rng(3)
    small = np.clip(np.round(3 + rng.normal(0, 1, (4, 10, 2))), 1, 5)
    large = np.clip(np.round(3 + rng.normal(0, 1, (16, 10, 2))), 1, 5)
    width = [np.subtract(*np.quantile(_bootstrap_means(c, 1000, 0), [0.975, 0.025], axis=0)) for c in (small, large)]
    assert np.all(width[1] < width[0])


def test_weighted_means_equal_an_explicit_resample():
    """The vectorised bootstrap equals building each resampled data set by repeating raters and scenes."""
    rng = np.random.default_rng(1)
    cube = rng.integers(1, 6, (5, 7, 3)).astype(float)
    cube[rng.random(cube.shape) < 0.3] = np.nan  # raters skip images
    for _ in range(20):
        idx_r = rng.integers(0, 5, 5)
        idx_s = rng.integers(0, 7, 7)
        explicit = cube[idx_r][:, idx_s]  # (5, 7, 3), duplicates included
        want = np.array([np.nanmean(explicit[..., m]) if (~np.isnan(explicit[..., m])).any() else np.nan for m in range(3)])
        w_r = np.bincount(idx_r, minlength=5)[None].astype(float)
        w_s = np.bincount(idx_s, minlength=7)[None].astype(float)
        np.testing.assert_allclose(_weighted_means(cube, w_r, w_s)[0], want, equal_nan=True)
    w_r, w_s = _draw_weights(5, 7, 100, 0)
    assert w_r.shape == (100, 5)
    assert (w_r.sum(1) == 5).all()
    assert (w_s.sum(1) == 7).all()


def test_rater_agreement():
    rng = np.random.default_rng(2)
    truth = rng.integers(1, 6, (6, 4)).astype(float)  # scenes x methods
    cube = np.stack([truth, truth, truth, 6 - truth])  # r3 is reversed
    cube[1, 0, 0] = np.nan
    out = {r["rater"]: r for r in rater_agreement(cube, ["a", "b", "c", "rev"])}
    assert out["b"]["n"] == 23
    assert out["a"]["n"] == 24
    # the mean of the others is a mix of truth and its reverse, still closest to truth for a/b/c
    assert out["a"]["pearson"] > 0.3
    assert out["a"]["spearman"] > 0.3
    assert out["rev"]["pearson"] == pytest.approx(-1.0)
    assert out["rev"]["spearman"] == pytest.approx(-1.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    others = np.nanmean(cube[[1, 2, 3]].reshape(3, -1), axis=0)
    assert out["a"]["spearman"] == pytest.approx(scipy_stats.spearmanr(cube[0].ravel(), others).statistic)
    assert out["a"]["pearson"] == pytest.approx(scipy_stats.pearsonr(cube[0].ravel(), others).statistic)
    x = np.array([3.0, 1.0, 3.0, 2.0])
    np.testing.assert_allclose(_rank(x), scipy_stats.rankdata(x))


def test_constant_rater_has_no_correlation(study):
    _fill(study, lambda r, s, m: 3 if r == "r0" else {"hr": 5, "bicubic": 2, "bilinear": 1, "tiny": 4}[m])
    raters = {r["rater"]: r for r in mos_report(study, n_boot=50)["raters"]}
    assert raters["r0"]["pearson"] is None
    assert raters["r0"]["spearman"] is None
    assert raters["r1"]["pearson"] == pytest.approx(1.0)


def test_empty_study(study, tmp_path):
    report = mos_report(study, n_boot=10)
    assert all(r["mos"] is None and r["n"] == 0 for r in report["methods"].values())
    assert report["raters"] == []
    assert "hr" in format_report(report)
    with pytest.raises(InputError, match="no ratings"):
        plot_report(report, tmp_path / "p.png")


def test_partial_ratings_and_bad_arguments(study):
    _fill(study, lambda r, s, m: None if m == "tiny" or (r == "r0" and s == "a_rgb") else 4)
    table = mos_table(study, n_boot=100)
    assert table["tiny"] == {"mos": None, "ci_low": None, "ci_high": None, "n": 0, "n_raters": 0, "n_scenes": 0}
    assert table["hr"]["n"] == 11
    with pytest.raises(InputError):
        mos_table(study, level=1.5)
    with pytest.raises(InputError):
        mos_table(study, n_boot=0)


def test_cli_report_table_json_and_plot(study, tmp_path, capsys):
    from PIL import Image

    from sr4det.cli import main

    _fill(study, lambda r, s, m: {"hr": 5, "bicubic": 2, "bilinear": 2, "tiny": 3}[m] - (r == "r1" and m != "bilinear"))
    plot = tmp_path / "mos.png"
    assert main(["mos", "report", "--db", str(study), "--plot", str(plot), "--n-boot", "200"]) == 0
    text = capsys.readouterr().out
    for word in ("hr", "bicubic", "bilinear", "tiny", "rater agreement", "r3"):
        assert word in text
    with Image.open(plot) as im:
        assert im.size[0] > 300
        assert im.size[1] > 200
    assert main(["mos", "report", "--db", str(study), "--json", "--n-boot", "200"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["methods"]["hr"]["mos"] == pytest.approx((5 * 9 + 4 * 3) / 12)
    assert data["methods"]["bilinear"]["mos"] == 2.0
    assert data["study"]["ratings"] == 48
    assert main(["mos", "report", "--db", str(tmp_path / "missing.sqlite")]) == 2
