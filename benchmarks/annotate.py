"""The personalization annotation stage (Grounding DINO boxes + SAM masks), images/s, side by side in one run:

- ours: decode on CPU threads ahead of the model, several images per Grounding DINO forward (padded and masked), one SAM
  image embedding per image with all its boxes prompted in one mask-decoder call, bf16 autocast on CUDA;
- naive: the Grounded-SAM demo's loop, one image at a time in fp32: decode, groundingdino.util.inference.predict,
  SamPredictor.set_image + predict_torch with that image's boxes.

Both run the same checkpoints on the same real photos and prompts. FLOPs per image come from torch's FlopCounterMode;
on CUDA the share of the GPU's dense bf16 peak that our FLOP rate reaches is reported, with what 76M images would cost."""

from __future__ import annotations

import argparse
import io

import numpy as np
import torch
from PIL import Image

from benchmarks.common import interleaved, median, write_result
from models import build, spec_for
from models.detection.grounding_dino import load_grounding_dino
from models.segmentation.sam import load_sam
from pipelines.parallel import batched, prefetch_map
from pipelines.personalization.entities import extract_entities, grounding_prompt
from pipelines.sources.sample_source import photo_items

# Dense bf16 tensor-core peaks (FLOP/s) of the GPUs this project is lent, from NVIDIA's data sheets (SXM parts).
BF16_PEAK = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12, "L4": 121e12}
SDD_IMAGES = 76_000_000


def workload(n: int) -> list[tuple[bytes, str]]:
    """n (jpeg bytes, prompt) pairs cycling over the sample source's real photos with their captions' entities."""
    items = []
    for item in photo_items():
        prompt = grounding_prompt(extract_entities(item.meta["caption"]))
        image = Image.open(io.BytesIO(item.files["jpg"])).convert("RGB")
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=95)
        if prompt:
            items.append((buf.getvalue(), prompt))
    return [items[i % len(items)] for i in range(n)]


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def ours(detector, segmenter, work: list[tuple[bytes, str]], batch: int) -> int:
    boxes = 0
    decoded = prefetch_map(lambda w: decode(w[0]), work, threads=2, depth=4 * batch)
    for chunk in batched(decoded, batch):
        images = [im for _, im in chunk]
        for image, det in zip(images, detector.detect(images, [w[1] for w, _ in chunk]), strict=True):
            boxes += len(segmenter.segment(image, det.boxes).masks)
    _sync()
    return boxes


def naive(gd_model, sam_predictor, spec, work: list[tuple[bytes, str]], device: str) -> int:
    """The Grounded-SAM demo: one image at a time, fp32, the libraries' own predict functions."""
    import groundingdino.datasets.transforms as T
    from groundingdino.util import box_ops
    from groundingdino.util.inference import predict

    transform = T.Compose(
        [
            T.RandomResize([spec.image_size], max_size=spec.max_size),
            T.ToTensor(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    boxes_total = 0
    for data, prompt in work:
        image = decode(data)
        tensor, _ = transform(Image.fromarray(image), None)
        boxes, _, _ = predict(gd_model, tensor, prompt, spec.box_threshold, spec.text_threshold, device=device)
        h, w = image.shape[:2]
        xyxy = box_ops.box_cxcywh_to_xyxy(boxes) * torch.tensor([w, h, w, h])
        if len(xyxy):
            sam_predictor.set_image(image)
            prompts = sam_predictor.transform.apply_boxes_torch(xyxy.to(device), image.shape[:2])
            masks, _, _ = sam_predictor.predict_torch(None, None, boxes=prompts, multimask_output=False)
            boxes_total += len(masks)
    _sync()
    return boxes_total


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def flops_per_image(detector, segmenter, work: list[tuple[bytes, str]]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    image = decode(work[0][0])
    with FlopCounterMode(display=False) as counter:
        det = detector.detect([image], [work[0][1]])[0]
        segmenter.segment(image, det.boxes if len(det) else np.array([[0, 0, 10, 10]], dtype=np.float32))
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="images per Grounding DINO forward (ours)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--profile", default="tiny", help="tiny, or production (weights from SHARDSMITH_GD_*/SAM_* env)"
    )
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "bfloat16" if device == "cuda" else "float32"
    gd_spec = spec_for("grounding_dino", args.profile, device=device, dtype=dtype, batch_size=args.batch)
    sam_spec = spec_for("sam", args.profile, device=device, dtype=dtype, batch_size=256)
    detector, segmenter = build("grounding_dino", gd_spec), build("sam", sam_spec)
    from segment_anything import SamPredictor

    gd_raw = load_grounding_dino(gd_spec.config, gd_spec.checkpoint, gd_spec.text_encoder, device)
    sam_raw = SamPredictor(load_sam(sam_spec.variant, sam_spec.checkpoint, device))
    work = workload(args.images)
    ours(detector, segmenter, work[: args.batch], args.batch)  # warm-up both paths
    naive(gd_raw, sam_raw, gd_spec, work[:2], device)
    masks: dict[str, int] = {}
    times = interleaved(
        {
            "ours": lambda: masks.__setitem__("ours", ours(detector, segmenter, work, args.batch)),
            "naive_demo_loop": lambda: masks.__setitem__(
                "naive_demo_loop", naive(gd_raw, sam_raw, gd_spec, work, device)
            ),
        },
        args.repeats,
    )
    flops = flops_per_image(detector, segmenter, work)
    figures = {
        k: {
            "median_s": round(median(v), 3),
            "images_per_s": round(len(work) / median(v), 3),
            "masks": masks[k],
            "runs_s": [round(t, 3) for t in v],
        }
        for k, v in times.items()
    }
    rate = figures["ours"]["images_per_s"]
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    peak = next((p for name, p in BF16_PEAK.items() if gpu and name in gpu), None)
    result = {
        "command": f"make bench  (python -m benchmarks.annotate --images {args.images} --batch {args.batch} --profile {args.profile})",
        "device": gpu or "cpu",
        "profile": args.profile,
        "models": {"detector": detector.model_id, "segmenter": segmenter.model_id},
        "figures": figures,
        "speedup_ours_vs_naive": round(rate / figures["naive_demo_loop"]["images_per_s"], 3),
        "flops_per_image": flops,
        "achieved_tflops": round(flops * rate / 1e12, 4),
        "share_of_bf16_peak": round(flops * rate / peak, 4) if peak else None,
        "gpu_hours_for_76M_images": round(SDD_IMAGES / rate / 3600, 1) if device == "cuda" else None,
    }
    md = [
        f"# annotate (Grounding DINO + SAM), {args.profile} profile on {result['device']}, {len(work)} images, median of {args.repeats}",
        "",
        "| path | median s | images/s | masks made |",
        "| --- | ---: | ---: | ---: |",
    ]
    md += [f"| {k} | {v['median_s']} | {v['images_per_s']} | {v['masks']} |" for k, v in figures.items()]
    md += [
        "",
        f"ours / naive: {result['speedup_ours_vs_naive']}x; {flops / 1e9:.1f} GFLOP per image; {result['achieved_tflops']} TFLOP/s achieved"
        + (
            f" = {result['share_of_bf16_peak']:.1%} of the bf16 peak; 76M images = {result['gpu_hours_for_76M_images']} GPU-hours"
            if peak
            else " (no GPU: no peak share, no GPU-hours)"
        ),
    ]
    write_result(f"annotate_{args.profile}_{'gpu' if gpu else 'cpu'}", result, "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
