"""Tiny random-weight checkpoints of the real architectures, built at run time for tests and demos (no downloads)."""

from __future__ import annotations

import os
import shutil
import string
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from models.cache import cache_root

TINY_GD_VARIANT = "swint_tiny"
TINY_SAM_VARIANT = "vit_tiny"
_VERSION = "v1"  # bump when a tiny architecture changes: the cache key changes with it
_SEED = 0

# SwinT-OGC with 1 encoder/decoder layer and 50 queries. hidden_dim must stay 256 (GD hard-codes it in places).
_GD_CONFIG = """\
batch_size = 1
modelname = "groundingdino"
backbone = "swin_T_224_1k"
position_embedding = "sine"
pe_temperatureH = 20
pe_temperatureW = 20
return_interm_indices = [1, 2, 3]
backbone_freeze_keywords = None
enc_layers = 1
dec_layers = 1
pre_norm = False
dim_feedforward = 512
hidden_dim = 256
dropout = 0.0
nheads = 8
num_queries = 50
query_dim = 4
num_patterns = 0
num_feature_levels = 4
enc_n_points = 4
dec_n_points = 4
two_stage_type = "standard"
two_stage_bbox_embed_share = False
two_stage_class_embed_share = False
transformer_activation = "relu"
dec_pred_bbox_embed_share = True
dn_box_noise_scale = 1.0
dn_label_noise_ratio = 0.5
dn_label_coef = 1.0
dn_bbox_coef = 1.0
embed_init_tgt = True
dn_labelbook_size = 2000
max_text_len = 256
text_encoder_type = {bert_dir!r}
use_text_enhancer = True
use_fusion_layer = True
use_checkpoint = False
use_transformer_ckpt = False
use_text_cross_attention = True
text_dropout = 0.0
fusion_dropout = 0.0
fusion_droppath = 0.1
sub_sentence_present = True
"""

_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "a an the of and with in on at to for by from is are this that person man woman child boy girl "
    "people face hand hair eye shirt dress hat glasses cat dog bird horse animal car bus truck bicycle "
    "boat plane train tree flower grass sky water road building house room table chair cup bottle plate "
    "food book phone computer screen sign text logo red green blue black white yellow small large old "
    "young astronaut rocket coffee camera suit helmet flag"
).split()


@dataclass(frozen=True)
class TinyGroundingDino:
    """Paths of a tiny Grounding DINO: SLConfig .py, checkpoint {"model": state_dict}, local BERT directory."""

    config: Path
    checkpoint: Path
    text_encoder: Path


def tiny_grounding_dino(cache_dir: str | os.PathLike[str] | None = None) -> TinyGroundingDino:
    """Builds (once per cache dir) a random-weight tiny Grounding DINO and its tiny BERT; returns their paths."""
    root = cache_root(cache_dir) / f"groundingdino-{TINY_GD_VARIANT}-{_VERSION}"
    out = TinyGroundingDino(root / "config.py", root / "checkpoint.pth", root / "bert")
    if not (out.text_encoder / "config.json").exists():
        _write_tiny_bert(out.text_encoder)
    if not out.config.exists():
        _atomic_write(out.config, lambda p: p.write_text(_GD_CONFIG.format(bert_dir=str(out.text_encoder))))
    if not out.checkpoint.exists():
        from models.detection.grounding_dino import build_grounding_dino_module

        torch.manual_seed(_SEED)
        model = build_grounding_dino_module(out.config, out.text_encoder, device="cpu")
        _atomic_write(out.checkpoint, lambda p: torch.save({"model": model.state_dict()}, p))
    return out


def tiny_sam(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Builds (once per cache dir) a random-weight tiny SAM state_dict; returns the checkpoint path."""
    path = cache_root(cache_dir) / f"sam-{TINY_SAM_VARIANT}-{_VERSION}" / "checkpoint.pth"
    if not path.exists():
        from models.segmentation.sam import build_sam_module

        torch.manual_seed(_SEED)
        model = build_sam_module(TINY_SAM_VARIANT)
        _atomic_write(path, lambda p: torch.save(model.state_dict(), p))
    return path


def _write_tiny_bert(directory: Path) -> None:
    """A BERT directory that BertTokenizer/AutoTokenizer and BertModel.from_pretrained read: vocab.txt, tiny config, random weights."""
    _write_bert(directory, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def _write_bert(directory: Path, vocab_size: int | None = None, **sizes: int) -> None:
    """A random-weight BERT directory; ``sizes`` are BertConfig's (none: bert-base), ``vocab_size`` pads the vocabulary
    with [unusedN] tokens (bert-base-uncased has 30522)."""
    from transformers import BertConfig, BertModel

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits)
    vocab = list(dict.fromkeys(specials + list(string.punctuation) + chars + [f"##{c}" for c in chars] + _WORDS))
    vocab += [f"[unused{i}]" for i in range(max(0, (vocab_size or 0) - len(vocab)))]
    config = BertConfig(vocab_size=len(vocab), max_position_embeddings=512, **sizes)
    torch.manual_seed(_SEED)
    model = BertModel(config)

    def write(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n")
        (tmp / "tokenizer_config.json").write_text('{"do_lower_case": true, "model_max_length": 512}\n')
        model.save_pretrained(tmp)

    _atomic_write(directory, write)


FULL_GD_VARIANT = "swint_ogc"


def full_random_grounding_dino(cache_dir: str | os.PathLike[str] | None = None) -> TinyGroundingDino:
    """The stock SwinT-OGC Grounding DINO (6+6 layers, 900 queries) with a bert-base-sized BERT, all random weights:
    the production architecture at full size for throughput benchmarks (compute does not depend on weight values)."""
    import groundingdino.config

    root = cache_root(cache_dir) / f"groundingdino-{FULL_GD_VARIANT}-random-{_VERSION}"
    out = TinyGroundingDino(root / "config.py", root / "checkpoint.pth", root / "bert")
    if not (out.text_encoder / "config.json").exists():
        _write_bert(out.text_encoder, vocab_size=30522)
    if not out.config.exists():
        stock = Path(groundingdino.config.__file__).with_name("GroundingDINO_SwinT_OGC.py").read_text()
        text = stock.replace(
            'text_encoder_type = "bert-base-uncased"', f"text_encoder_type = {str(out.text_encoder)!r}"
        )
        _atomic_write(out.config, lambda p: p.write_text(text))
    if not out.checkpoint.exists():
        from models.detection.grounding_dino import build_grounding_dino_module

        torch.manual_seed(_SEED)
        model = build_grounding_dino_module(out.config, out.text_encoder, device="cpu")
        _atomic_write(out.checkpoint, lambda p: torch.save({"model": model.state_dict()}, p))
    return out


def full_random_sam(variant: str = "vit_h", cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """SAM ``variant`` at full size with random weights, saved as a state_dict that production's loader reads."""
    path = cache_root(cache_dir) / f"sam-{variant}-random-{_VERSION}" / "checkpoint.pth"
    if not path.exists():
        from models.segmentation.sam import build_sam_module

        torch.manual_seed(_SEED)
        model = build_sam_module(variant)
        _atomic_write(path, lambda p: torch.save(model.state_dict(), p))
    return path


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Writes to a temporary sibling then renames, so concurrent workers never see a partial file or directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    write(tmp)
    try:
        os.replace(tmp, path)
    except OSError:
        if not path.exists():  # a directory that another worker renamed into place first is fine
            raise
    finally:
        shutil.rmtree(tmp.parent)
