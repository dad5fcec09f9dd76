"""Everything that reads or writes outside the process: git (the history scan, the tag
listing, the release transaction), SOP files and their formats (surgical writes), the
config, the sandboxed templates and the caches under .git/sopgit/. Returns plain records
for the core."""
