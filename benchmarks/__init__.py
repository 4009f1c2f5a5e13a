"""moby_assemble's speed and memory benchmark (issue 2), run with ``nox -s bench``.

Builds the benchmark images streamed into an OCI layout, then measures side by side, in
one run: our cold pull into the store against ``skopeo copy``; our flatten against
``umoci unpack`` (MB/s on big zstd files, entries/s on many small files, with Python's
``tarfile`` as a baseline); and peak RSS flattening a ~1 GB image. Every measured step is
a child process whose wall time and peak RSS come from ``wait4``. It is a benchmark, not
a test: it prints a table with ratios and verdicts against the issue's targets, writes
JSON if asked, and exits 0 whether targets are met or not (1 only if a step failed).

Usage::

    python -m benchmarks                      # the full run (about 5-10 minutes)
    python -m benchmarks --quick              # tiny images, one run each (seconds)
    python -m benchmarks --only flatten --only entries --json out.json
    python -m benchmarks --workdir /tmp/bench --keep   # reuse the built images next time
    python -m benchmarks --profile DIR        # also run each step under cProfile

Needs ``docker-registry``, ``skopeo`` and ``umoci`` on ``PATH``; uses only 127.0.0.1.
"""
