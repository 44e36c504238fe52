"""``lsvid stats``: the paper's Table 1 row and Fig. 4 histograms for any dataset folder.

Under the row, one line on the query/gallery split as the protocol scores it
(:func:`protocols.evaluation.query_checks`): queries, gallery, how many
queries keep a true match (same id, another camera, not junk) and their
share, and the identities with a query -- for PRID/iLIDS trial 0's, with the
range over all trials.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lsvid_core.paths import check_output, staged_folder
from protocols import Dataset
from protocols.evaluation import query_checks


def table1_row(ds: Dataset) -> dict[str, Any]:
    """#identity, #sequence, #boxes, mean frames per sequence, #cameras (query copies of
    gallery sequences counted once; junk id -1 not an identity)."""
    tr = ds.tracklets
    if "source_id" in tr.columns:
        has = tr["source_id"].notna()
        tr = tr[~has | ~tr[has].duplicated("source_id").reindex(tr.index, fill_value=False)]
    ids = tr["person_id"]
    junk = set(ds.protocol.junk_pids)
    return {
        "dataset": ds.name,
        "identities": int(ids[~ids.isin(junk)].nunique()),
        "sequences": int(len(tr)),
        "boxes": int(tr["num_frames"].sum()),
        "mean_frames": float(tr["num_frames"].mean()) if len(tr) else 0.0,
        "cameras": int(tr["camera_id"].nunique()),
    }


def format_table1(row: dict[str, Any]) -> str:
    head = f"{'dataset':<14} {'#identity':>9} {'#sequence':>9} {'#boxes':>10} {'frames/seq':>10} {'#camera':>7}"
    body = f"{row['dataset']:<14} {row['identities']:>9,} {row['sequences']:>9,} {row['boxes']:>10,} {row['mean_frames']:>10.1f} {row['cameras']:>7}"
    return head + "\n" + body


def format_query_check(c: dict[str, Any]) -> str:
    """One line of :func:`protocols.evaluation.query_check`'s numbers."""
    return (
        f"{c['queries']:,} ({c['query_identities']:,} identities), gallery {c['gallery']:,}; "
        f"answerable {c['answerable']:,} of {c['queries']:,} ({100 * c['answerable_share']:.1f}%)"
    )


def queries_summary(ds: Dataset) -> str:
    """The query line(s) printed under the Table 1 row: trial 0, and the range over trials when there are several."""
    checks = query_checks(ds)
    if not any(c["queries"] for c in checks):
        return "queries: none (no query split)"
    first = checks[0]
    if len(checks) == 1:
        return "queries: " + format_query_check(first)
    out = [f"queries (trial 0 of {len(checks)}): " + format_query_check(first)]

    def span(key: str, fmt: str = "{:,}") -> str:
        lo, hi = min(c[key] for c in checks), max(c[key] for c in checks)
        return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"

    share = span("answerable_share", "{:.1%}")
    out.append(f"  over all {len(checks)} trials: queries {span('queries')}, gallery {span('gallery')}, answerable {span('answerable')} ({share})")
    return "\n".join(out)


def histograms(ds: Dataset, out_dir: str | Path) -> list[Path]:
    """Fig. 4's three histograms: sequence length, sequences per camera, sequences per identity."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    check_output(out, overwrite=True, hosts=[("DATASET", ds.root), ("image root", ds.image_root)], kind="stats folder")
    with staged_folder(out, kind="stats", tool="lsvid stats") as tmp:
        names = _draw_histograms(ds, tmp)
    return [out / n for n in names]


def _draw_histograms(ds: Dataset, out: Path) -> list[str]:
    import matplotlib.pyplot as plt

    tr = ds.tracklets
    junk = list(ds.protocol.junk_pids)
    paths = []
    for name, values, xlabel, bins in (
        ("sequence_length", tr["num_frames"].to_numpy(), "frames per sequence", 30),
        ("sequences_per_camera", None, "camera", None),
        ("sequences_per_identity", tr[~tr["person_id"].isin(junk)].groupby("person_id").size().to_numpy(), "sequences per identity", None),
    ):
        fig, ax = plt.subplots(figsize=(4.6, 3.2), dpi=110)
        if name == "sequences_per_camera":
            counts = tr.groupby("camera_id").size()
            ax.bar(counts.index.astype(str), counts.to_numpy(), color="#4c72b0")
        else:
            if bins is None:
                hi = int(values.max()) if len(values) else 1
                bins = np.arange(0.5, hi + 1.5, max(1, hi // 30))
            ax.hist(values, bins=bins, color="#4c72b0")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("sequences" if name != "sequences_per_identity" else "identities")
        ax.set_title(f"{ds.name}: {name.replace('_', ' ')}", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / f"{name}.png")
        plt.close(fig)
        paths.append(f"{name}.png")
    return paths
