"""The embedded defaults `lockgate up` starts when nothing is configured."""
