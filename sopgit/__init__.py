"""sopgit: Standard Operating Procedures as code."""
