"""Knowledge: the documents of the docs folder, their text and chunks, and the vector index
built from them."""
