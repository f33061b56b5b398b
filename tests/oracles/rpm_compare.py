"""Reads 'A<TAB>B' lines ([epoch:]version-release) and prints rpm.labelCompare(A, B)."""
import sys
import rpm


def evr(s):
    epoch, _, rest = s.rpartition(":") if ":" in s else ("", "", s)
    version, _, release = rest.rpartition("-") if "-" in rest else (rest, "", None)
    return (epoch or None, version, release)


for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t")
    print(rpm.labelCompare(evr(a), evr(b)))
