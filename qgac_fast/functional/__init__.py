"""Reference JPEG operations in plain PyTorch: the specification every kernel is tested against."""
