"""The quality report: a config over the 7 x 5 photo x painting pairs, measured by the Judge.

    PYTHONPATH=src python benchmarks/quality.py --size 256 --out /tmp/q-new              # the default
    PYTHONPATH=src python benchmarks/quality.py --size 256 --set strength=none iterations=200 \\
        coarse_factor=1 tol=0 --out /tmp/q-old                                        # the old default
    PYTHONPATH=src python benchmarks/quality.py --photos tubingen rocket --paintings wave --size 128

Runs through the one job path (:func:`restyle.jobs.report.run_quality`: Jobs on a LocalExecutor),
so outputs already finished in ``--out`` are skipped and an interrupted report resumes. Writes
``--out``/report.json (per pair: wall-clock, steps, style weight, content and style distance at
256 px on VGG16 Caffe, edge structure over the whole image and inside the marked faces (FACES);
the summary: max, min, mean and max/min), ``--out``/report.md (the table)
and ``--out``/sheet.png (rows = photos, columns = paintings, the inputs as header row and column);
``--sheet PATH`` also writes a sheet of only the ``--publish`` photos (those the README may show:
golden_gate.jpg has no licence, see /work/shared/images/CREDITS.md). Prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from restyle.config import configure
from restyle.engine.quality import Box
from restyle.features.precision import cpu_model
from restyle.io.files import atomic_write_bytes
from restyle.jobs.report import all_pairs, quality_sheet, run_quality

IMAGES = Path(os.environ.get("RESTYLE_IMAGES", "/work/shared/images"))
#: Images shipped with the benchmarks: camera.png, scikit-image's "camera" (CC0, Lav Varshney), a second portrait.
OWN_IMAGES = Path(__file__).parent / "images"
PHOTOS = ("tubingen", "golden_gate", "astronaut", "chelsea", "coffee", "rocket", "camera")
PAINTINGS = ("starry_night", "the_scream", "composition_vii", "wave", "udnie")
#: Photos the README may show (CC/PD; see CREDITS.md there).
PUBLISH = ("tubingen", "astronaut", "chelsea", "coffee", "rocket", "camera")
#: The faces, marked by hand (fractions of the photo's width and height): forehead to chin, ear to ear.
FACES = {
    "astronaut": Box(172 / 512, 70 / 512, 284 / 512, 185 / 512),
    "camera": Box(176 / 512, 108 / 512, 262 / 512, 204 / 512),
}


def find(stem: str) -> Path:
    """The image file of ``stem`` in IMAGES or OWN_IMAGES (any suffix)."""
    hits = sorted(IMAGES.glob(f"{stem}.*")) or sorted(OWN_IMAGES.glob(f"{stem}.*"))
    if not hits:
        raise SystemExit(f"no image {stem}.* in {IMAGES} or {OWN_IMAGES}")
    return hits[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder of the outputs, report.json, sheet.png")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--photos", nargs="+", default=list(PHOTOS))
    ap.add_argument("--paintings", nargs="+", default=list(PAINTINGS))
    ap.add_argument("--pairs", nargs="+", metavar="PHOTO:PAINTING", help="only these pairs (instead of all)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="settings on top of the default")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--title", default="", help="title of the sheet")
    ap.add_argument("--sheet", type=Path, help="also write a sheet of the --publish photos here")
    ap.add_argument("--publish", nargs="+", default=list(PUBLISH))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    config, _ = configure({"size": args.size, "device": "cpu", **overrides})
    photos, paintings = [find(p) for p in args.photos], [find(s) for s in args.paintings]
    t0 = time.perf_counter()
    pairs = (
        [(find(a), find(b)) for a, b in (x.split(":") for x in args.pairs)]
        if args.pairs
        else all_pairs(photos, paintings)
    )
    if args.pairs:
        photos = [p for p in photos if p in {a for a, _ in pairs}]
        paintings = [s for s in paintings if s in {b for _, b in pairs}]
    report = run_quality(pairs, config, args.out, faces=FACES)
    title = args.title or f"{args.size} px, {' '.join(args.set) or 'default settings'}"
    data = {
        "config": {"size": args.size, **overrides},
        "title": title,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average": os.getloadavg(),
        },
        "report_s": round(time.perf_counter() - t0, 1),
        **report.to_dict(),
    }
    text = json.dumps(data, indent=1)
    atomic_write_bytes(args.out / "report.json", text.encode())
    atomic_write_bytes(args.out / "report.md", (report.table() + "\n").encode())
    quality_sheet(report, photos, paintings, title).save(args.out / "sheet.png")
    if args.sheet:
        shown = [p for p in photos if p.stem in args.publish]
        quality_sheet(report, shown, paintings, title).save(args.sheet)
    print(text)


if __name__ == "__main__":
    main()
