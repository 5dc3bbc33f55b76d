"""Box-prompted segmenters behind the Segmenter interface (models.types), and COCO RLE helpers."""
