"""Facial-attribute set: filters, attribute schema, pre-labels, Label Studio review, agreement and captions."""
