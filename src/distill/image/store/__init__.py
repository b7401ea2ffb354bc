from distill.image.store.layout import REF_NAME, BlobWriter, Store, default_root

__all__ = ["REF_NAME", "BlobWriter", "Store", "default_root"]
