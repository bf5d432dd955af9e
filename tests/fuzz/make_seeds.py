"""make_seeds.py - writes the seed corpus (tests/fuzz/corpus/) and the regression inputs (tests/fuzz/regressions/) of
tests/fuzz/fuzz_sql.c.

The harness reads its input as a program: one byte picks an operation, the bytes after it pick that
operation's arguments (see fuzz_sql.c). The encoders below mirror that reading, so each seed is a
readable story: plan an execution, append to it, recover it, tamper with the tables, and so on. The
fuzzer mutates from these; any byte string is a valid program, so the seeds only give it a head start.
Every finding of the fuzzer becomes a regression below, minimized and written out the same way, so that
`make fuzz-short` (which runs tests/fuzz/regressions first) and `make valgrind` replay it.

Run from the repository root: python3 tests/fuzz/make_seeds.py
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent

# Operation bytes: fuzz_sql.c takes byte % 20.
APPEND, BEGIN, RECOVER, CLEANUP, TTL, VERSION = 0, 4, 6, 8, 9, 10
PENDING, PROGRESS, TXN, TAMPER, INSIDE, LIMIT, OTHER, REOPEN = 11, 12, 13, 14, 15, 16, 17, 18

# A value in "role" form: the first byte below 8 takes the role's own generator.
ROLE = 0
# gen_value kinds 8..15 (kind % 8): the generic generators.
NULL, INT, DOUBLE, RAW_TEXT, BLOB, JSON, BIG, DEEP = 8, 9, 10, 11, 12, 13, 14, 15

IDS = ["e1", "e2", "e3", "a", "b", "c", "task-1", "Ωmega"]


def id_(name):
    return [ROLE, IDS.index(name)]


def count(n):
    return [ROLE, 1, n]  # choose(4) != 0, then choose(8)


def json_number(index):
    return [2, index]


def json_string(body_index):
    return [3, 1, body_index]


def json_array(*items):
    return [5, len(items)] + [b for item in items for b in item]


def json_object(*pairs):
    out = [6, len(pairs)]
    for key, value in pairs:
        out += [1 if key == "a" else 0] + value
    return out


def result(*json):
    return [ROLE] + [b for part in json for b in part]


def hours(n):
    return [ROLE, 1, n]


def call(op, *args):
    return [op, len(args)] + [b for a in args for b in a]


def plan(*task_ids):
    out = [ROLE, 2, len(task_ids)]
    for task in task_ids:
        out += [1, IDS.index(task)]  # kind 1 (< 7): an id from the first three of the pool
    return out


def raw(data):
    return [RAW_TEXT, len(data)] + list(data)


SEEDS = {
    "append_recover": call(APPEND, id_("e1"), result(json_object(("a", json_number(2)))), count(0), count(3))
    + call(APPEND, id_("e1"), result(json_array(json_string(16))))
    + call(RECOVER, id_("e1"))
    + [PROGRESS, 1, 0, 0, 0],
    "plan_and_pending": call(BEGIN, id_("e2"), plan("a", "b", "c"))
    + call(APPEND, id_("e2"), result(json_number(2)), [NULL], [NULL], id_("b"), id_("c"), id_("a"))
    + [PENDING, 0, 1, 0, 0, 0]
    + call(RECOVER, id_("e2"))
    + call(BEGIN, id_("e2"), plan("a", "c")),
    "bad_types": call(APPEND, [INT, 0], [BLOB, 2, 0, 255])
    + call(APPEND, raw(b"a\x00b"), result(json_number(0)), count(0), count(1))
    + call(APPEND, id_("e1"), raw(b'"\xff\xfe"'), count(0), count(1))
    + call(BEGIN, id_("e3"), [DOUBLE, 0])
    + call(RECOVER, [NULL])
    + call(CLEANUP, [RAW_TEXT, 1, 120])
    + call(TTL, [DOUBLE, 0]),
    "edge_numbers": call(APPEND, id_("e1"), result(json_number(5)), [INT, 1, 0, 0, 0, 0, 0, 0, 0, 0], [INT, 8])
    + call(APPEND, id_("e1"), result(json_number(12)), count(7), count(5))
    + call(RECOVER, id_("e1"), [DOUBLE, 0])
    + call(CLEANUP, [DOUBLE, 1, 1]),
    "deep_json": call(APPEND, id_("e1"), [DEEP, 2, 0], count(0), count(2))
    + call(APPEND, id_("e1"), [DEEP, 5, 1], count(0), count(2))
    + call(BEGIN, id_("e2"), [DEEP, 3, 0])
    + call(BEGIN, id_("e3"), [DEEP, 6, 2]),
    "big_values": call(APPEND, [BIG, 1, 0], result(json_number(2)), count(0), count(1))
    + call(APPEND, id_("e1"), [BIG, 3, 1], count(0), count(1))
    + [LIMIT, 1]
    + call(RECOVER, id_("e1"))
    + call(BEGIN, id_("e1"), [ROLE, 2, 1, 8, 1]),
    "transactions": [TXN, 0]
    + call(APPEND, id_("e1"), result(json_number(2)), count(0), count(2))
    + [TXN, 5]
    + call(APPEND, id_("e1"), result(json_number(2)), count(5), count(2))
    + [TXN, 7, TXN, 3, TXN, 8]
    + call(APPEND, id_("e1"), result(json_number(2)))
    + [TXN, 9, TXN, 10]
    + call(CLEANUP, hours(0))
    + [TXN, 4],
    "inside_writes": [INSIDE, 0, 0, 0, 2, 0, INSIDE, 0, 1, 0, 2, 1]
    + [INSIDE, 0, 0, 0, 2, 2, INSIDE, 0, 0, 0, 2, 6, INSIDE, 0, 0, 0, 2, 7],
    "tamper_schema": call(APPEND, id_("e1"), result(json_number(2)), count(0), count(2))
    + [TAMPER, 0]
    + call(APPEND, id_("e1"), result(json_number(2)))
    + [TAMPER, 22, TAMPER, 2]
    + call(RECOVER, id_("e1"))
    + [TAMPER, 6, PROGRESS, 0, 0, 0, 0, 0]
    + call(TTL, hours(3)),
    "tamper_rows": call(BEGIN, id_("e1"), plan("a", "b"))
    + call(APPEND, id_("e1"), result(json_number(2)), [NULL], [NULL], [NULL], [NULL], id_("a"))
    + [TAMPER, 15]
    + call(RECOVER, id_("e1"))
    + [TAMPER, 10]
    + call(APPEND, id_("e1"), result(json_number(2)), [NULL], [NULL], [NULL], [NULL], id_("b"))
    + [TAMPER, 18, PROGRESS, 0, 0, 0, 0, 0],
    "two_connections": [OTHER, 0, OTHER, 1]
    + call(APPEND, id_("e3"), result(json_number(2)), [NULL], [NULL], [NULL], [NULL], id_("a"))
    + [OTHER, 3, OTHER, 5]
    + call(APPEND, id_("e1"), result(json_number(2)))
    + [OTHER, 6, REOPEN, 1]
    + call(RECOVER, id_("e3")),
    "corrupt": call(BEGIN, id_("e1"), plan("a", "b", "c"))
    + call(APPEND, id_("e1"), result(json_number(2)), [NULL], [NULL], [NULL], [NULL], id_("a"))
    + [REOPEN, 0, 4, 0, 0, 0, 0, 0, 0, 0x10, 0x20, 7, 0, 0, 0, 0, 0, 0, 0x0c, 0x40, 0xff, 0, 0, 0, 0, 0, 0, 0x08, 0x05, 3]
    + call(RECOVER, id_("e1"))
    + [PENDING, 0, 1, 0, 0, 0, PROGRESS, 0, 0, 0, 0, 0]
    + call(APPEND, id_("e1"), result(json_number(2)), [NULL], [NULL], [NULL], [NULL], id_("b")),
    "version_and_limits": call(VERSION) + call(VERSION, [INT, 0]) + [LIMIT, 0]
    + call(APPEND, id_("e1"), result(json_string(0)), count(0), count(1)),
}


# Findings of the fuzzer, minimized. Each name says what broke.
REGRESSIONS = {
    # nxm_wal_begin('e1', '["<1025 x>"]'): the "too long" message used %zu, which SQLite's printf reads as
    # %z (free the argument) -- a segfault.
    "plan-task-id-over-cap-segfault": [BEGIN, 2, ROLE, 0, ROLE, 2, 1, 8, 0],
    # SQLITE_LIMIT_LENGTH = 1000, then nxm_cleanup(): the schema check's catalog string hit the limit,
    # was reported as out of memory, and the call left its BEGIN IMMEDIATE open.
    "length-limit-1000-cleanup-leaves-transaction": [LIMIT, 81, 48],
    # The same through nxm_wal_append('e1', 'null', 0, 0, 'e1').
    "length-limit-1000-append-leaves-transaction": [0x74, 0x65, 0x01, 0x32],
}


def write(directory, programs):
    directory.mkdir(parents=True, exist_ok=True)
    for name, program in programs.items():
        (directory / f"{name}.bin").write_bytes(bytes(b % 256 for b in program))
    print(f"wrote {len(programs)} inputs to {directory}")


def main():
    write(HERE / "corpus", SEEDS)
    write(HERE / "regressions", REGRESSIONS)


if __name__ == "__main__":
    main()
