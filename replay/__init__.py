"""What would Holdfast have done with my calls? A contact center's own call log, imported (Asterisk
queue_log, Twilio call records, Amazon Connect contact records), read for what it says happened, and
replayed through Holdfast's own code in virtual time (bench/daysim.py's simulator, the in-memory
adapters) beside no callback and the peer policies. docs/replay.md says how to run it and what the
report means.

Not product code: nothing here ships in the Lambda package (which is app.py and chalicelib/ only).
`python -m replay LOG --format queue_log|twilio|connect` (or `make replay`) runs it."""
