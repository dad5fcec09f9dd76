"""One typed function per command (or close family): plain arguments in, a result object
out; no printing and no exiting, so tests and other programs call them directly."""
