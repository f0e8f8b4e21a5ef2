#!/usr/bin/env python3
"""Message generator of the compressed benchmark (benches/deflate/): SCADA
tag updates as JSON, the kind of traffic permessage-deflate is used for.

    gen_tags.py [--count K] [--size S] [--seed N] [--out FILE]

Writes K lines (default 256), each exactly S bytes (default 1024) plus a
newline, to FILE (default stdout). Deterministic: the same arguments give
the same bytes on any Python 3 (a fixed-seed `random.Random`, fixed number
formats, the standard library only).

Format of every line (ASCII, one JSON object, no newline inside):

    {"seq":"0000000000000000","ts":1767225600123,"src":"rtu-07","tags":[
      {"n":"Plant1/Line3/Motor21/Speed","v":1480.25,"q":"GOOD","t":1767225600101},
      ...]<spaces>}

(shown wrapped; a line has no spaces outside the padding.)

- Bytes 8..24 (`STAMP_OFFSET`, `STAMP_LEN`) are the value of "seq": 16
  characters `0`, a placeholder. A benchmark client writes the index i of
  the message there as 16 lowercase hex digits (`%016x` of i), so every
  message stays valid JSON and every echo can be matched to its message.
  Message i of a run is line i % K with its stamp.
- "ts": milliseconds, rising 80..120 ms a line from 2026-01-01T00:00:00Z.
- "src": the remote terminal unit that sent the scan (rtu-01..rtu-12).
- "tags": the updates of one scan, as many as fit (about 10 at 1 KiB) of
  16 candidates: a run of 6..10 neighbours (one device group) and a few
  others, out of a plant of 480 tags (4 plants x 4 lines x 10 devices x 3
  of 6 measurements); names `Plant<p>/Line<l>/<Device><d>/<Measurement>`. "v" is a
  process value that drifts (a bounded random walk per tag, its own range
  and step, 1 to 3 decimals, as a real speed, temperature, pressure or
  current does); "q" the OPC quality, almost always "GOOD" ("UNCERTAIN"
  and "BAD" now and then); "t" the tag's own time stamp, a few ms before
  "ts".
- Padding: after the last tag that fits, spaces before the final `}` up
  to exactly S bytes (less than one tag's length, ~45 bytes on average) (spaces between JSON tokens are valid JSON).

The result is repetitive in the way real tag traffic is (the same names,
keys and qualities message after message, values close to the previous
ones) and so compresses well, better still with context takeover.
"""
import argparse
import json
import random
import sys

STAMP_OFFSET = 8
STAMP_LEN = 16
EPOCH_MS = 1767225600000  # 2026-01-01T00:00:00Z

DEVICES = ("Motor", "Pump", "Valve", "Conveyor", "Fan", "Boiler", "Tank", "Mixer", "Press", "Compressor")
# measurement: (low, high, max step, decimals)
MEASUREMENTS = {
    "Speed": (0.0, 3000.0, 12.0, 2),
    "Temperature": (-20.0, 180.0, 0.4, 1),
    "Pressure": (0.0, 16.0, 0.05, 3),
    "Current": (0.0, 250.0, 1.5, 2),
    "Level": (0.0, 100.0, 0.3, 1),
    "Flow": (0.0, 900.0, 4.0, 2),
}


class Tag:
    def __init__(self, rnd, name, meas):
        lo, hi, step, dec = MEASUREMENTS[meas]
        self.name, self.lo, self.hi, self.step, self.dec = name, lo, hi, step, dec
        self.v = rnd.uniform(lo + (hi - lo) * 0.2, lo + (hi - lo) * 0.8)
        self.trend = rnd.uniform(-0.3, 0.3)

    def move(self, rnd):
        # a random walk with a slowly changing trend, reflected at the range
        self.trend = max(-1.0, min(1.0, self.trend + rnd.uniform(-0.1, 0.1)))
        self.v += self.step * (self.trend + rnd.uniform(-1.0, 1.0))
        if self.v < self.lo:
            self.v, self.trend = 2 * self.lo - self.v, abs(self.trend)
        if self.v > self.hi:
            self.v, self.trend = 2 * self.hi - self.v, -abs(self.trend)
        return round(self.v, self.dec)


def plant(rnd):
    tags = []
    for p in range(1, 5):
        for line in range(1, 5):
            for d, dev in enumerate(DEVICES):
                num = 1 + d + 10 * (line - 1)
                meas = rnd.sample(sorted(MEASUREMENTS), 3)
                for m in sorted(meas):
                    tags.append(Tag(rnd, f"Plant{p}/Line{line}/{dev}{num}/{m}", m))
    return tags


def fmt_value(v, dec):
    return f"{v:.{dec}f}"


def generate(count, size, seed):
    """Returns the K lines (str, without newline), each exactly `size` bytes."""
    head_len = len('{"seq":"') + STAMP_LEN + len('",')
    tail_min = len(']}')
    if size < head_len + len('"ts":1767225600000,"tags":[') + tail_min:
        raise ValueError(f"--size {size} is too small for a message")
    rnd = random.Random(seed)
    tags = plant(rnd)
    ts = EPOCH_MS
    lines = []
    for _ in range(count):
        ts += rnd.randint(80, 120)
        src = f"rtu-{rnd.randint(1, 12):02d}"
        head = '{"seq":"' + "0" * STAMP_LEN + f'","ts":{ts},"src":"{src}","tags":['
        tail = "]}"
        # the tags of one scan: a run of neighbours (one device group) plus a few others
        start = rnd.randrange(len(tags))
        chosen = [tags[(start + k) % len(tags)] for k in range(rnd.randint(6, 10))]
        chosen += rnd.sample(tags, 16 - len(chosen))
        items = []
        body = head
        for t in chosen:
            v = t.move(rnd)
            r = rnd.random()
            q = "GOOD" if r < 0.97 else "UNCERTAIN" if r < 0.99 else "BAD"
            item = (f'{{"n":"{t.name}","v":{fmt_value(v, t.dec)},"q":"{q}",'
                    f'"t":{ts - rnd.randint(0, 40)}}}')
            cand = body + ("," if items else "") + item
            if len(cand) + len(tail) > size:
                break
            items.append(item)
            body = cand
        line = body + "]" + " " * (size - len(body) - len(tail)) + "}"
        assert len(line) == size and line[STAMP_OFFSET:STAMP_OFFSET + STAMP_LEN] == "0" * STAMP_LEN
        lines.append(line)
    return lines


def stamped(line, i):
    """Message i made from its line (what every client sends)."""
    return line[:STAMP_OFFSET] + "%016x" % i + line[STAMP_OFFSET + STAMP_LEN:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=256, help="messages (lines), default 256")
    ap.add_argument("--size", type=int, default=1024, help="bytes per message, default 1024")
    ap.add_argument("--seed", type=int, default=16, help="random seed, default 16")
    ap.add_argument("--out", default="-", help="output file, default stdout")
    a = ap.parse_args()
    if a.count < 1:
        ap.error("--count must be >= 1")
    try:
        lines = generate(a.count, a.size, a.seed)
    except ValueError as e:
        ap.error(str(e))
    for i, line in enumerate(lines):  # every message is valid JSON once stamped
        json.loads(stamped(line, i))
    data = "".join(line + "\n" for line in lines).encode("ascii")
    if a.out == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(a.out, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
