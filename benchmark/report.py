"""Render the leaderboard: Markdown and a static HTML page in the shape of the paper's
Tables 2 (ablation) and 4 (comparison), CMC curves, and top-5 retrieval strips (Fig. 7)."""
from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from lsvid_core.errors import InputError
from lsvid_core.paths import check_output, relative_inside, safe_component, staged_folder

from .config import result_settings
from .results import read_leaderboard, row_ap, topk_name

ABLATION = ("avgpool", "pyramid_conv", "tpp", "dtp", "tsa", "gltr")
METRICS = ("rank1", "rank5", "rank10", "rank20", "mAP")


def experiment_key(config_json: str, options: str, ap: str = "torchreid") -> str:
    """Rows with equal keys repeat one experiment: the same result settings,
    method options and AP definition (``ap``, the row's own column: with a
    config's ``ap`` of null it is the dataset protocol's), perhaps another
    seed or trial, perhaps run faster."""
    settings = result_settings(json.loads(config_json))
    return hashlib.sha256(json.dumps([settings, json.loads(options or "{}"), ap], sort_keys=True).encode()).hexdigest()[:16]


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, method, backbone, rerank): its latest experiment,
    mean and std over that experiment's trials and seeds.

    The latest row of each (trial, seed) counts, and only rows of the
    experiment (:func:`experiment_key`) most recently run: a changed config
    replaces the old numbers rather than being averaged with them, while
    re-runs with other seeds are averaged (``seeds`` and ``runs`` say how many).
    Rows of two AP definitions are two experiments, never averaged; ``ap``
    says which one a line's mAP follows.
    """
    if df.empty:
        return df
    cell = ["dataset", "method", "backbone", "rerank", "recipe", "eval"]
    df = df.assign(**{c: _column(df, c).where(_column(df, c).notna(), old) for c, old in ROW_DEFAULTS.items()})
    ap = row_ap(df["ap"] if "ap" in df else pd.Series(None, index=df.index, dtype=object))
    df = df.assign(ap=ap, experiment=[experiment_key(c, o, a) for c, o, a in zip(df["config"], df["options"], ap)])
    df = df.sort_values("created", kind="stable")  # ties keep file (append) order
    latest = df.groupby(cell)["experiment"].transform("last")
    df = df[df["experiment"] == latest].drop_duplicates(cell + ["trial", "seed"], keep="last")
    g = df.groupby(cell, sort=True)
    out = g[list(METRICS)].mean()
    for m in METRICS:
        out[f"{m}_std"] = g[m].std(ddof=0).fillna(0.0)
    out["trials"] = g["trial"].nunique()
    out["seeds"] = g["seed"].nunique()
    out["runs"] = g.size()
    out["cmc"] = g["cmc"].apply(lambda s: np.mean(np.stack([np.asarray(x, float) for x in s]), axis=0).tolist())
    out["wall_time_s"] = g["wall_time_s"].sum()
    out["experiment"] = g["experiment"].first()
    out["ap"] = g["ap"].first()  # one experiment, one AP definition
    torch_version = df.get("environment", pd.Series(None, index=df.index, dtype=object)).map(_torch_version)
    for col, values in (("devices", df.get("device")), ("code_versions", df.get("code_version")), ("torch_versions", torch_version)):
        values = pd.Series(None, index=df.index, dtype=object) if values is None else values
        out[col] = values.groupby([df[c] for c in cell]).agg(lambda v: ", ".join(sorted({str(x) for x in v if x is not None})) or "?")
    return out.reset_index()


# what rows written before a column existed were run with
ROW_DEFAULTS = {"recipe": "paper", "eval": "default"}


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series(None, index=df.index, dtype=object)


def label(r, with_backbone: bool = False) -> str:
    """A summary line's name: the method, then what sets it apart from the paper recipe's default scoring."""
    get = r.get if isinstance(r, (dict, pd.Series)) else lambda k, d=None: getattr(r, k, d)
    out = get("method") + (" + re-rank" if get("rerank") else "")
    if get("recipe", "paper") not in (None, "paper"):
        out += f" [{get('recipe')}]"
    if get("eval", "default") not in (None, "default"):
        out += f" ({get('eval')} eval)"
    return out + (f" ({get('backbone')})" if with_backbone else "")


def _torch_version(environment: str | None) -> str | None:
    return json.loads(environment).get("torch") if isinstance(environment, str) else None


def _provenance(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Where each cell's numbers come from: enough to rerun or to doubt them."""
    header = ["dataset", "method", "backbone", "experiment", "AP", "trials", "seeds", "device", "code", "torch", "wall time"]
    body = [
        [r.dataset, label(r), r.backbone, r.experiment, r.ap, str(r.trials), str(r.seeds),
         r.devices, r.code_versions, r.torch_versions, f"{r.wall_time_s:.0f} s" if r.wall_time_s < 120 else f"{r.wall_time_s / 60:.1f} min"]
        for r in summary.itertuples()
    ]
    return header, body


CAPTION = "Mean over trials and seeds (± std where a cell has several runs). Scores in %."


def _seeds_note(summary: pd.DataFrame) -> str:
    """Which cells average several seeds, so a reader can tell a spread over seeds from one over trials."""
    multi = summary[summary["seeds"] > 1]
    if multi.empty:
        return ""
    cells = [f"{label(r)} on {r.dataset} ({r.seeds} seeds)" for r in multi.itertuples()]
    return "Averaged over seeds: " + ", ".join(cells) + "."


AP_DEFINITIONS = {
    "torchreid": "the mean precision at each true match's rank, as torchreid computes it",
    "market1501": "the trapezoid rule of the official Market-1501/MARS MATLAB evaluation",
}


def _ap_note(summary: pd.DataFrame) -> str:
    """Which AP definition the mAP columns follow: numbers of two definitions are not comparable."""
    used = sorted(summary["ap"].unique())
    if len(used) == 1:
        return f"mAP: {used[0]} AP ({AP_DEFINITIONS.get(used[0], 'see protocols.metrics')}) in every cell."
    return f"mAP: cells use different AP definitions ({', '.join(used)}; the provenance table's AP column says which); compare only cells of one definition."


def _fmt(row: pd.Series, m: str) -> str:
    s = f"{100 * row[m]:.1f}"
    if row["runs"] > 1:
        s += f" ± {100 * row[m + '_std']:.1f}"
    return s


def _table(summary: pd.DataFrame, methods: list[str], metrics: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    datasets = sorted(summary["dataset"].unique())
    header = ["method"] + [f"{d} {m.replace('rank', 'R')}" for d in datasets for m in metrics]
    body = []
    for method in methods:
        for _, sub in summary[summary.method == method].groupby(["backbone", "rerank", "recipe", "eval"]):
            name = label(sub.iloc[0], with_backbone=summary.backbone.nunique() > 1)
            cells = []
            for d in datasets:
                r = sub[sub.dataset == d]
                cells += [_fmt(r.iloc[0], m) if len(r) else "–" for m in metrics]
            body.append([name] + cells)
    return header, body


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(c, c) for c in text).replace("±", r"$\pm$").replace("–", "--")


def _latex(header: list[str], body: list[list[str]], caption: str) -> str:
    """A booktabs table, ready to paste into a paper."""
    lines = [
        r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex_escape(caption)}}}",
        r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule",
        " & ".join(_tex_escape(c) for c in header) + r" \\", r"\midrule",
    ]
    lines += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def _html_table(header: list[str], body: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{rows}</tbody></table>"


def plot_cmc(summary: pd.DataFrame, dataset: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=110)
    for _, r in summary[summary.dataset == dataset].iterrows():
        cmc = np.asarray(r["cmc"]) * 100
        ax.plot(np.arange(1, len(cmc) + 1), cmc, marker="o", markersize=2.5, label=f"{label(r)} (mAP {100 * r['mAP']:.1f})")
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_title(f"CMC on {dataset}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def retrieval_strips(topk_file: Path, dataset_path: Path, out: Path, *, max_queries: int = 8, k: int = 5, size=(128, 64)) -> bool:
    """Query (middle frame) then its top-k gallery tracklets, green border = same identity.

    ``topk_file`` holds the protocol's ranking (``ranked_gallery``): tracklet
    id -1 pads a query with fewer than k gallery items left and is not drawn.
    """
    from protocols import read_dataset

    if not topk_file.exists() or not dataset_path.exists():
        return False
    z = np.load(topk_file)
    ds = read_dataset(dataset_path)
    fr = ds.frames
    mid = fr.groupby("tracklet_id")["path"].agg(lambda s: s.iloc[len(s) // 2])
    h, w = size
    pad = 4

    def tile(tid: int, colour) -> np.ndarray:
        img = cv2.imread(str(ds.image_root / mid[int(tid)]))
        img = np.zeros((h, w, 3), np.uint8) if img is None else cv2.resize(img, (w, h))
        return cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour)

    rows = []
    for i in range(min(max_queries, len(z["query"]))):
        tiles = [tile(z["query"][i], (200, 200, 200)), np.full((h + 2 * pad, 12, 3), 255, np.uint8)]
        for j in range(min(k, z["gallery"].shape[1])):
            if z["gallery"][i, j] < 0:
                break
            same = z["gallery_pid"][i, j] == z["query_pid"][i]
            tiles.append(tile(z["gallery"][i, j], (40, 170, 40) if same else (40, 40, 210)))
        rows.append(np.hstack(tiles))
    if not rows:
        return False
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(out), np.vstack(rows))
    return True


def render(leaderboard: str | os.PathLike, out_dir: str | os.PathLike, *, run_dir: str | os.PathLike | None = None, strips_method: str | None = None) -> dict[str, Any]:
    """Write ``leaderboard.md``, ``leaderboard.tex`` (booktabs), ``index.html``, ``cmc_<dataset>.png`` and retrieval strips.

    The report folder is built aside and renamed into place, replacing an
    earlier report but never a folder this tool did not write, nor writing
    through a symbolic link planted in it."""
    out = check_output(Path(out_dir), overwrite=True, hosts=[("--runs", run_dir)], inputs=[("--leaderboard", leaderboard)], kind="report folder")
    df = read_leaderboard(leaderboard)
    if df.empty:
        raise InputError(f"{leaderboard}: no rows yet; run `lsvid bench` first")
    summary = summarise(df)
    methods = sorted(summary.method.unique(), key=lambda m: (ABLATION.index(m) if m in ABLATION else len(ABLATION), m))
    t2 = _table(summary, [m for m in methods if m in ABLATION], ("rank1", "mAP"))
    t4 = _table(summary, methods, ("rank1", "rank5", "rank20", "mAP"))
    ap_note = _ap_note(summary)
    notes = [n for n in (ap_note, _seeds_note(summary)) if n]
    with staged_folder(out, kind="report", tool="lsvid leaderboard") as tmp:
        images, strips = _figures(tmp, summary, df, methods, run_dir, strips_method)
        (tmp / "leaderboard.md").write_text(_markdown_page(t2, t4, _provenance(summary), notes, images, strips))
        tex = ["% lsvid leaderboard; needs \\usepackage{booktabs}"]
        for table, shape in ((t2, "Ablation (the shape of Table 2"), (t4, "All methods (the shape of Table 4")):
            tex += [_latex(*table, f"{shape} of Li et al., ICCV 2019). {CAPTION} {ap_note}"), ""]
        (tmp / "leaderboard.tex").write_text("\n".join(tex[:-1]) + "\n")
        (tmp / "index.html").write_text(_html_page(t2, t4, _provenance(summary), notes, images, strips, df))
    return {"markdown": out / "leaderboard.md", "latex": out / "leaderboard.tex", "html": out / "index.html", "cmc": images, "strips": [s[2] for s in strips]}


def _figures(out: Path, summary: pd.DataFrame, df: pd.DataFrame, methods: list[str], run_dir, strips_method: str | None):
    """CMC curves per dataset and the strips of one method; names from the leaderboard become
    file names, so each is checked to be a single harmless one."""
    images, strips = [], []
    for d in sorted(summary.dataset.unique()):
        safe_component(d, "leaderboard dataset name")
        p = out / f"cmc_{d}.png"
        plot_cmc(summary, d, p)
        images.append(p.name)
        if run_dir is None:
            continue
        method = safe_component(strips_method or ("gltr" if "gltr" in methods else methods[-1]), "method name")
        rows = df[(df.dataset == d) & (df.method == method)].sort_values(["created", "trial"], kind="stable")
        if len(rows):
            s = out / f"strips_{d}_{method}.png"
            last = rows[rows.trial == rows.trial.min()].iloc[-1]
            folder = last.run_folder if isinstance(last.run_folder, str) else f"{d}/trial{last.trial}/{method}"  # rows from before run_folder
            if retrieval_strips(Path(run_dir) / relative_inside(folder, "leaderboard run_folder") / topk_name(last.get("eval")), Path(last.dataset_path), s):
                strips.append((d, method, s.name))
    return images, strips


def _markdown_page(t2, t4, prov, notes: list[str], images: list[str], strips) -> str:
    md = ["# Leaderboard", "", CAPTION, *[x for n in notes for x in ("", n)], ""]
    md += ["## Ablation (the shape of the paper's Table 2)", "", _markdown(*t2), ""]
    md += ["## All methods (the shape of the paper's Table 4)", "", _markdown(*t4), ""]
    md += ["## Provenance", "", "Each cell's latest experiment (its settings' hash, less seed and execution fields) and what computed it.", "", _markdown(*prov), ""]
    md += [f"![CMC]({name})" for name in images]
    md += [f"\n![top-5 retrieval, {d}, {m}]({name})" for d, m, name in strips]
    return "\n".join(md) + "\n"


def _html_page(t2, t4, prov, notes: list[str], images: list[str], strips, df: pd.DataFrame) -> str:
    css = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
           "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}")
    page = [f"<!doctype html><html><head><meta charset='utf-8'><title>lsvid leaderboard</title><style>{css}</style></head><body>",
            f"<h1>Leaderboard</h1><p>{html.escape(CAPTION)}</p>" + "".join(f"<p>{html.escape(n)}</p>" for n in notes),
            "<h2>Ablation (the shape of the paper's Table 2)</h2>", _html_table(*t2),
            "<h2>All methods (the shape of the paper's Table 4)</h2>", _html_table(*t4), "<h2>CMC curves</h2>"]
    page += [f"<img src='{html.escape(n)}' alt='CMC'>" for n in images]
    page += ["<h2>Provenance</h2>", _html_table(*prov)]
    if strips:
        page.append("<h2>Top-5 retrieval (query in grey; green: same identity, red: another)</h2>")
        page += [f"<h3>{html.escape(d)} — {html.escape(m)}</h3><img src='{html.escape(n)}' alt='strips'>" for d, m, n in strips]
    page.append(f"<p><small>{len(df)} rows; configs: {html.escape(json.dumps(sorted(df.config_hash.unique().tolist())))}</small></p></body></html>")
    return "\n".join(page)
