"""The cache directory: file names (pure), atomic storage and the startup index."""
