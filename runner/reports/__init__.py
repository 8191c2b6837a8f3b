"""How results are shown: a run as text, json or a nagios line; pages for list, show,
history and status; validation problems as text, json or GitHub annotations."""
