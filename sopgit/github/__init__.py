"""GitHub: the REST client, review rounds, CODEOWNERS and the Actions files sopgit
generates."""
