"""Model builders: from a transformers config, or a local pretrained checkpoint."""
