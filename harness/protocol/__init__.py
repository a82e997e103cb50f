"""The contract between the control side and the hosts (standard library only).

Both sides import this package and nothing else of each other: the task spec a host is
given (spec.py, with its typed parts in parts.py, workload.py and cluster.py), where every
file of a run lives and what it is called (layout.py), how a host process ends (exits.py),
shared constants (constants.py), the dataset file formats both read (dataset_formats.py)
and the event records the hosts write (events.py). Nothing in here may import anything
outside the standard library."""
