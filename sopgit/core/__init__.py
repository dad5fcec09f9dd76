"""Pure derivations from plain records: commits and trailers, versions and attribution,
history rows, the changelog and index models, approval policy, review and training dates.

Nothing here touches git, files, the network or the terminal, and nothing imports a layer
above; tests build plain records and never a repository."""
