"""Vector stores: faiss index files with JSON payloads, for GeneralTextMemory."""
