"""Everything that talks to AWS: discovery, instance facts, prices, start/stop, S3.

boto3 is imported only inside this package, and only inside functions (via
`session.py`), so the parsers here are importable — and the rest of the control side
starts — without boto3 installed. Each module keeps a PURE parser over the API's response
shapes apart from the thin caller that makes the request."""
