"""pickle_original.py: the store nxm replaces, kept as the baseline of item 3 of the benchmark.

Before nxm, the backend kept an execution's results in a Python list and, after every AI call, pickled
the whole state to /tmp/nxm_wal/nxm_wal_<execution_id>.pkl, overwriting the file in place and never
syncing it. PickleLog does exactly that (in a directory of the caller's choice, so that it lands on the
disk under test): each append costs a rewrite of everything so far.
"""

import os
import pickle
import time
from datetime import datetime, timezone


class PickleLog:
    def __init__(self, directory, execution_id, total):
        self.path = os.path.join(directory, f"nxm_wal_{execution_id}.pkl")
        self.execution_id = execution_id
        self.total = total
        self.results = []
        self.brand = self.model = None
        self.bytes_written = 0

    def append(self, result, brand, model, write=True):
        """Adds one result and rewrites the file (unless write is False: see bench_original.py)."""
        self.results.append(result)
        self.brand, self.model = brand, model
        if write:
            self.write()

    def write(self):
        now = time.time()
        state = {
            "execution_id": self.execution_id,
            "results": self.results,
            "completed": len(self.results),
            "total": self.total,
            "brand": self.brand,
            "model": self.model,
            "timestamp": now,
            "last_updated": datetime.fromtimestamp(now, timezone.utc).isoformat(),
        }
        with open(self.path, "wb") as f:
            pickle.dump(state, f)
            self.bytes_written += f.tell()

    def remove(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
