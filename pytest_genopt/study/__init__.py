"""genopt study: the three design choices as a measured study."""
