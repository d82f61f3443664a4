"""Building blocks of `threadr.extract`: charset decoding, page metadata, content scoring."""
