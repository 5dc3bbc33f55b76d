"""The retrieval student's loss terms, each returned on its own: contrastive, distillation, hard negatives, LwF."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss


def soft_cross_entropy(target_logits: torch.Tensor, logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(softmax(target / T) || softmax(logits / T)) averaged over rows, times T**2 (Hinton); target is detached."""
    t = F.log_softmax(target_logits.detach() / temperature, dim=-1)
    s = F.log_softmax(logits / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2


def affinity_distill_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """TinyCLIP/MobileCLIP affinity distillation over the batch's (B, B) image-text score matrix, both directions.

    ``teacher_logits[i, j]`` scores image i against caption j: a dual encoder's scaled cosine, or a fusion model's
    image-text matching logit (BLIP ITM) over the same candidate pairs."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} vs teacher {tuple(teacher_logits.shape)}")
    i2t = soft_cross_entropy(teacher_logits, student_logits, temperature)
    t2i = soft_cross_entropy(teacher_logits.T, student_logits.T, temperature)
    return (i2t + t2i) / 2


def hard_negative_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    negative_features: torch.Tensor,
    negative_mask: torch.Tensor,
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """NegCLIP: image-to-text cross entropy with every hard-negative caption of the batch added as extra columns.

    ``negative_features`` (B, K, D) are the attribute-swapped captions of each sample, ``negative_mask`` (B, K) says
    which exist. Features are unit vectors. Returns 0 (with a graph) when the batch has no negatives."""
    b, k, d = negative_features.shape
    flat = negative_features.reshape(b * k, d)[negative_mask.reshape(-1)]
    if flat.shape[0] == 0:
        return image_features.sum() * 0.0
    candidates = torch.cat([text_features, flat], dim=0)
    logits = logit_scale * image_features @ candidates.T
    labels = torch.arange(b, device=image_features.device)
    return F.cross_entropy(logits, labels)


@dataclass(frozen=True)
class LossWeights:
    contrastive: float = 1.0
    distill: float = 1.0
    hard_negative: float = 1.0
    lwf: float = 1.0
    temperature: float = 1.0


class RetrievalStudentLoss(torch.nn.Module):
    """Weighted sum of the four terms; ``forward`` returns every term (weighted and not) and ``total``."""

    def __init__(self, weights: LossWeights) -> None:
        super().__init__()
        self.weights = weights
        self.clip = ClipLoss()

    def forward(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        teacher_logits: torch.Tensor | None = None,
        negative_features: torch.Tensor | None = None,
        negative_mask: torch.Tensor | None = None,
        replay_logits: torch.Tensor | None = None,
        replay_reference_logits: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        w = self.weights
        zero = image_features.sum() * 0.0
        terms = {"contrastive": zero, "distill": zero, "hard_negative": zero, "lwf": zero}
        if w.contrastive:
            terms["contrastive"] = self.clip(image_features, text_features, logit_scale)
        if w.distill and teacher_logits is not None:
            student_logits = logit_scale * image_features @ text_features.T
            terms["distill"] = affinity_distill_loss(student_logits, teacher_logits, w.temperature)
        if w.hard_negative and negative_features is not None and negative_mask is not None:
            terms["hard_negative"] = hard_negative_loss(
                image_features, text_features, negative_features, negative_mask, logit_scale
            )
        if w.lwf and replay_logits is not None and replay_reference_logits is not None:
            terms["lwf"] = affinity_distill_loss(replay_logits, replay_reference_logits, w.temperature)
        weighted = {
            "contrastive": w.contrastive,
            "distill": w.distill,
            "hard_negative": w.hard_negative,
            "lwf": w.lwf,
        }
        terms["total"] = sum(weighted[name] * value for name, value in list(terms.items()))
        return terms


def itm_loss(positive_logits: torch.Tensor, negative_logits: torch.Tensor) -> torch.Tensor:
    """The fusion teacher's image-text matching loss: binary cross entropy of match logits, positives against
    negatives (in-batch hardest and attribute-swapped captions), each side weighted equally."""
    pos = F.binary_cross_entropy_with_logits(positive_logits, torch.ones_like(positive_logits))
    if negative_logits.numel() == 0:
        return pos
    neg = F.binary_cross_entropy_with_logits(negative_logits, torch.zeros_like(negative_logits))
    return (pos + neg) / 2
