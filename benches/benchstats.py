"""Statistics shared by the project's benchmark orchestrators
(benches/stream/orchestrate.py, benches/deflate/orchestrate.py)."""
import statistics


def quartiles(xs):
    """First and third quartile (inclusive method); a single value is both."""
    xs = sorted(xs)
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]
