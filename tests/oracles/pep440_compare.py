"""Reads 'A<TAB>B' lines and prints -1, 0 or 1 as packaging.version orders
them, or E when packaging refuses either version."""
import sys
from packaging.version import InvalidVersion, Version

for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t")
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        print("E")
        continue
    print(-1 if va < vb else (1 if va > vb else 0))
