"""Publication: the changelog and index files, the static site and controlled copies."""
