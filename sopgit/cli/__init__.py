"""The command line, click only: parse, call a command function, format its result (text,
json, markdown), colour and progress, errors to exit codes."""
