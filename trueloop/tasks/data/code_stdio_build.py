"""Builds `code_stdio_problems.jsonl`: the built-in stdin/stdout (competitive-programming) bank.

Each problem: a statement, a reference program, visible and hidden {"input", "output"} pairs.
Inputs come from seeded generators below; outputs are computed by running the reference
program (this script is trusted code, run by a maintainer: `python code_stdio_build.py`).
Level 3 problems carry one large hidden input where the complexity bound matters (a quadratic
program runs out of time there). Problems with real-valued answers use `"compare": "float"`.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

BIG = 30_000


def ints(rng, n, lo=-1000, hi=1000):
    return " ".join(str(rng.randint(lo, hi)) for _ in range(n))


def words(rng, n, alphabet="abcde", lo=1, hi=5):
    return " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))
                    for _ in range(n))


P = []


def problem(pid, level, statement, reference, gen, big=None, compare="tokens", tol=0.0):
    P.append(dict(id=pid, level=level, statement=statement, reference=reference, gen=gen,
                  big=big, compare=compare, tol=tol))


problem("stdio_sum_two", 1, "Read two integers a and b on one line. Print a + b.",
        "a, b = map(int, input().split())\nprint(a + b)\n",
        lambda r: f"{r.randint(-10**9, 10**9)} {r.randint(-10**9, 10**9)}\n")
problem("stdio_max_of_list", 1, "The first line holds n; the second n integers. Print the largest.",
        "input()\nprint(max(map(int, input().split())))\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n)}\n")(r.randint(1, 20)))
problem("stdio_reverse", 1, "Read one line of lowercase letters. Print it reversed.",
        "print(input().strip()[::-1])\n",
        lambda r: "".join(r.choice("abcxyz") for _ in range(r.randint(1, 30))) + "\n")
problem("stdio_count_vowels", 1,
        "Read one line of lowercase letters and spaces. Print how many of its letters are vowels "
        "(a, e, i, o, u).",
        "print(sum(c in 'aeiou' for c in input()))\n",
        lambda r: words(r, r.randint(1, 8), "abeiouxyz") + "\n")
problem("stdio_even_odd", 1, "Read an integer n. Print EVEN if it is even, else ODD.",
        "print('EVEN' if int(input()) % 2 == 0 else 'ODD')\n",
        lambda r: f"{r.randint(-10**6, 10**6)}\n")
problem("stdio_digit_sum", 1,
        "Read a non-negative integer with up to 1000 digits. Print the sum of its digits.",
        "print(sum(map(int, input().strip())))\n",
        lambda r: str(r.randint(1, 9)) + "".join(str(r.randint(0, 9))
                                                for _ in range(r.randint(0, 900))) + "\n")
problem("stdio_fahrenheit", 1,
        "Read a temperature in degrees Celsius (a real number). Print it in Fahrenheit "
        "(F = C * 9 / 5 + 32); answers within 1e-6 are accepted.",
        "print(float(input()) * 9 / 5 + 32)\n",
        lambda r: f"{r.uniform(-100, 100):.4f}\n", compare="float", tol=1e-6)
problem("stdio_min_max", 1,
        "The first line holds n; the second n integers. Print the smallest and the largest, "
        "separated by a space.",
        "input()\nxs = list(map(int, input().split()))\nprint(min(xs), max(xs))\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n)}\n")(r.randint(1, 20)))
problem("stdio_count_words", 1, "Read one line. Print how many whitespace-separated words it has.",
        "print(len(input().split()))\n",
        lambda r: words(r, r.randint(0, 12)) + "\n")
problem("stdio_fizzbuzz", 1,
        "Read n. For i = 1..n print one line: FizzBuzz if i is divisible by 15, Fizz if by 3, "
        "Buzz if by 5, else i.",
        "n = int(input())\nfor i in range(1, n + 1):\n"
        "    print('FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 else 'Buzz' if i % 5 == 0 "
        "else i)\n",
        lambda r: f"{r.randint(1, 40)}\n")
problem("stdio_sort_numbers", 2,
        "The first line holds n; the second n integers. Print them in non-decreasing order, "
        "separated by spaces.",
        "input()\nprint(*sorted(map(int, input().split())))\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n)}\n")(r.randint(1, 30)))
problem("stdio_distinct_count", 2,
        "The first line holds n; the second n integers. Print how many distinct values there are.",
        "input()\nprint(len(set(input().split())))\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n, 0, 9)}\n")(r.randint(1, 30)),
        big=lambda r: f"{BIG}\n{ints(r, BIG, 0, 10**6)}\n")
problem("stdio_palindromes", 2,
        "The first line holds t; each of the next t lines a word. For each word print YES if it "
        "reads the same backwards, else NO.",
        "t = int(input())\nfor _ in range(t):\n    w = input().strip()\n"
        "    print('YES' if w == w[::-1] else 'NO')\n",
        lambda r: (lambda ws: f"{len(ws)}\n" + "\n".join(ws) + "\n")(
            [r.choice(["abba", "abc", "a", "racecar", "ab", "xyzzyx", "level", "lever"])
             for _ in range(r.randint(1, 6))]))
problem("stdio_most_frequent_word", 2,
        "Read one line of words. Print the most frequent word and its count; on a tie, the "
        "alphabetically smallest word.",
        "from collections import Counter\nc = Counter(input().split())\n"
        "w = min(c, key=lambda k: (-c[k], k))\nprint(w, c[w])\n",
        lambda r: words(r, r.randint(1, 15), "ab", 1, 2) + "\n")
problem("stdio_range_sums", 2,
        "The first line holds n and q; the second n integers a_1..a_n; each of the next q lines "
        "l and r (1 <= l <= r <= n). For each query print a_l + ... + a_r.",
        "import sys\ndata = sys.stdin.buffer.read().split()\nn, q = int(data[0]), int(data[1])\n"
        "pre = [0]\nfor x in data[2:2 + n]:\n    pre.append(pre[-1] + int(x))\nout = []\n"
        "for i in range(q):\n    l, r = int(data[2 + n + 2 * i]), int(data[3 + n + 2 * i])\n"
        "    out.append(pre[r] - pre[l - 1])\nprint('\\n'.join(map(str, out)))\n",
        lambda r: _range_queries(r, r.randint(1, 10), r.randint(1, 5)),
        big=lambda r: _range_queries(r, BIG, BIG, full=True))
problem("stdio_gcd_lcm", 2, "Read two positive integers a and b. Print gcd(a, b) and lcm(a, b).",
        "import math\na, b = map(int, input().split())\ng = math.gcd(a, b)\nprint(g, a * b // g)\n",
        lambda r: f"{r.randint(1, 10**6)} {r.randint(1, 10**6)}\n")
problem("stdio_transpose", 2,
        "The first line holds r and c; then r lines of c integers. Print the c x r transpose, "
        "one row per line.",
        "r, c = map(int, input().split())\nm = [input().split() for _ in range(r)]\n"
        "for j in range(c):\n    print(*(m[i][j] for i in range(r)))\n",
        lambda r: (lambda a, b: f"{a} {b}\n" + "".join(ints(r, b, 0, 99) + "\n"
                                                       for _ in range(a)))(r.randint(1, 5),
                                                                           r.randint(1, 5)))
problem("stdio_second_largest", 2,
        "The first line holds n; the second n integers. Print the second largest distinct value, "
        "or -1 if there is none.",
        "input()\nxs = sorted(set(map(int, input().split())))\n"
        "print(xs[-2] if len(xs) > 1 else -1)\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n, 0, 5)}\n")(r.randint(1, 8)))
problem("stdio_brackets", 2,
        "The first line holds t; each of the next t lines a string of ()[]{}. Print YES for each "
        "balanced string, else NO.",
        "t = int(input())\npairs = {')': '(', ']': '[', '}': '{'}\nfor _ in range(t):\n"
        "    st, ok = [], True\n    for ch in input().strip():\n        if ch in pairs:\n"
        "            ok = ok and bool(st) and st.pop() == pairs[ch]\n        else:\n"
        "            st.append(ch)\n    print('YES' if ok and not st else 'NO')\n",
        lambda r: (lambda ss: f"{len(ss)}\n" + "\n".join(ss) + "\n")(
            ["".join(r.choice("()[]{}") for _ in range(r.randint(1, 8)))
             for _ in range(r.randint(1, 5))] + ["([]{})"]))
problem("stdio_fibonacci_mod", 2,
        "Read n (0 <= n <= 100000). Print the n-th Fibonacci number modulo 1000000007 "
        "(F0 = 0, F1 = 1).",
        "n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, (a + b) % 1000000007\n"
        "print(a)\n",
        lambda r: f"{r.randint(0, 100000)}\n")
problem("stdio_mean", 2,
        "The first line holds n; the second n real numbers. Print their mean; answers within "
        "1e-6 (absolute or relative) are accepted.",
        "input()\nxs = list(map(float, input().split()))\nprint(sum(xs) / len(xs))\n",
        lambda r: (lambda n: f"{n}\n" + " ".join(f"{r.uniform(-50, 50):.3f}" for _ in range(n))
                   + "\n")(r.randint(1, 10)), compare="float", tol=1e-6)
problem("stdio_inversions", 3,
        "The first line holds n (up to 30000); the second n integers. Print the number of pairs "
        "i < j with a_i > a_j. An O(n^2) program is too slow for the largest input.",
        "import sys\ndef count(a):\n    if len(a) < 2:\n        return a, 0\n    m = len(a) // 2\n"
        "    l, x = count(a[:m])\n    r, y = count(a[m:])\n    out, i, j, inv = [], 0, 0, x + y\n"
        "    while i < len(l) and j < len(r):\n        if l[i] <= r[j]:\n"
        "            out.append(l[i])\n"
        "            i += 1\n        else:\n            out.append(r[j])\n            j += 1\n"
        "            inv += len(l) - i\n    return out + l[i:] + r[j:], inv\n"
        "data = sys.stdin.read().split()\nprint(count(list(map(int, data[1:])))[1])\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n, 0, 20)}\n")(r.randint(1, 12)),
        big=lambda r: f"{BIG}\n{ints(r, BIG, 0, 10**9)}\n")
problem("stdio_lis", 3,
        "The first line holds n (up to 30000); the second n integers. Print the length of the "
        "longest strictly increasing subsequence. Needs O(n log n) for the largest input.",
        "import sys, bisect\ndata = sys.stdin.read().split()\ntails = []\n"
        "for x in map(int, data[1:]):\n    i = bisect.bisect_left(tails, x)\n"
        "    tails[i:i + 1] = [x]\nprint(len(tails))\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n, 0, 20)}\n")(r.randint(1, 12)),
        big=lambda r: f"{BIG}\n{ints(r, BIG, 0, 10**9)}\n")
problem("stdio_two_sum", 3,
        "The first line holds n and t; the second n integers. Print YES if two entries at "
        "different positions sum to t, else NO. Needs better than O(n^2) for the largest input.",
        "import sys\ndata = sys.stdin.read().split()\nn, t = int(data[0]), int(data[1])\n"
        "seen = set()\n"
        "ok = False\nfor x in map(int, data[2:2 + n]):\n    if t - x in seen:\n        ok = True\n"
        "        break\n    seen.add(x)\nprint('YES' if ok else 'NO')\n",
        lambda r: (lambda n: f"{n} {r.randint(-10, 10)}\n{ints(r, n, -10, 10)}\n")(r.randint(1, 8)),
        big=lambda r: f"{BIG} 3\n{ints(r, BIG, 10, 10**9)}\n")  # NO: a quadratic scan times out
problem("stdio_grid_path", 3,
        "The first line holds r and c; then r lines of '.' (free) and '#' (wall). Print the "
        "fewest moves (up/down/left/right) from the top-left to the bottom-right cell, or -1.",
        "import sys\nfrom collections import deque\nlines = sys.stdin.read().split()\n"
        "r, c = int(lines[0]), int(lines[1])\ng = lines[2:2 + r]\ndist = {(0, 0): 0}\n"
        "q = deque([(0, 0)]) if g[0][0] == '.' else deque()\nwhile q:\n    y, x = q.popleft()\n"
        "    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):\n        ny, nx = y + dy, x + dx\n"
        "        if 0 <= ny < r and 0 <= nx < c and g[ny][nx] == '.' and (ny, nx) not in dist:\n"
        "            dist[(ny, nx)] = dist[(y, x)] + 1\n            q.append((ny, nx))\n"
        "print(dist.get((r - 1, c - 1), -1) if g[0][0] == '.' else -1)\n",
        lambda r: _grid(r, r.randint(1, 6), r.randint(1, 6)),
        big=lambda r: _grid(r, 150, 150, wall=0.2))
problem("stdio_count_primes", 3,
        "Read n (up to 200000). Print how many primes are <= n.",
        "n = int(input())\nsieve = bytearray([1]) * (n + 1)\nsieve[:2] = b'\\x00\\x00'[:n + 1]\n"
        "for i in range(2, int(n ** 0.5) + 1):\n    if sieve[i]:\n"
        "        sieve[i * i::i] = bytearray(len(range(i * i, n + 1, i)))\nprint(sum(sieve))\n",
        lambda r: f"{r.randint(0, 100)}\n", big=lambda r: "200000\n")
problem("stdio_max_subarray", 3,
        "The first line holds n (up to 30000); the second n integers. Print the largest sum of a "
        "non-empty contiguous run.",
        "import sys\ndata = sys.stdin.read().split()\nbest, cur = None, 0\n"
        "for x in map(int, data[1:]):\n    cur = max(x, cur + x)\n"
        "    best = cur if best is None else max(best, cur)\nprint(best)\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n, -9, 9)}\n")(r.randint(1, 12)),
        big=lambda r: f"{BIG}\n{ints(r, BIG, -10**4, 10**4)}\n")
problem("stdio_coin_change_ways", 3,
        "The first line holds the amount (up to 10000) and k; the second k distinct coin values. "
        "Print the number of ways to make the amount (order does not matter) modulo 1000000007.",
        "a, k = map(int, input().split())\ncoins = list(map(int, input().split()))\n"
        "ways = [1] + [0] * a\n"
        "for c in coins:\n    for v in range(c, a + 1):\n"
        "        ways[v] = (ways[v] + ways[v - c]) % 1000000007\n"
        "print(ways[a])\n",
        lambda r: (lambda cs: f"{r.randint(0, 50)} {len(cs)}\n{' '.join(map(str, cs))}\n")(
            sorted(r.sample(range(1, 20), r.randint(1, 4)))),
        big=lambda r: "10000 6\n1 2 5 10 20 50\n")
problem("stdio_kth_smallest", 3,
        "The first line holds n and k (1 <= k <= n); the second n integers. Print the k-th "
        "smallest value.",
        "import sys\ndata = sys.stdin.read().split()\nn, k = int(data[0]), int(data[1])\n"
        "print(sorted(map(int, data[2:2 + n]))[k - 1])\n",
        lambda r: (lambda n: f"{n} {r.randint(1, n)}\n{ints(r, n, 0, 50)}\n")(r.randint(1, 10)),
        big=lambda r: f"{BIG} {BIG // 2}\n{ints(r, BIG, 0, 10**9)}\n")
problem("stdio_components", 3,
        "The first line holds n and m; each of the next m lines an edge u v (1-based). Print the "
        "number of connected components of the undirected graph.",
        "import sys\ndata = sys.stdin.read().split()\nn, m = int(data[0]), int(data[1])\n"
        "parent = list(range(n + 1))\ndef find(x):\n    while parent[x] != x:\n"
        "        parent[x] = parent[parent[x]]\n        x = parent[x]\n    return x\ncomps = n\n"
        "for i in range(m):\n    a, b = find(int(data[2 + 2 * i])), find(int(data[3 + 2 * i]))\n"
        "    if a != b:\n        parent[a] = b\n        comps -= 1\nprint(comps)\n",
        lambda r: _graph(r, r.randint(1, 8), r.randint(0, 6)),
        big=lambda r: _graph(r, BIG, BIG))
problem("stdio_edit_distance", 3,
        "Read two lowercase words, one per line (up to 300 letters each). Print their Levenshtein "
        "distance (insertions, deletions, substitutions).",
        "a, b = input().strip(), input().strip()\nprev = list(range(len(b) + 1))\n"
        "for i, ca in enumerate(a, 1):\n    cur = [i]\n    for j, cb in enumerate(b, 1):\n"
        "        cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))\n"
        "    prev = cur\nprint(prev[-1])\n",
        lambda r: "".join(r.choice("ab") for _ in range(r.randint(1, 8))) + "\n" +
        "".join(r.choice("ab") for _ in range(r.randint(1, 8))) + "\n",
        big=lambda r: "".join(r.choice("abc") for _ in range(300)) + "\n" +
        "".join(r.choice("abc") for _ in range(300)) + "\n")
problem("stdio_knapsack", 3,
        "The first line holds n (up to 100) and W (up to 1000); each of the next n lines a "
        "weight and a value. Print the largest total value of items with total weight <= W, "
        "each item used at most once.",
        "import sys\ndata = list(map(int, sys.stdin.read().split()))\nn, w = data[0], data[1]\n"
        "best = [0] * (w + 1)\nfor i in range(n):\n    wt, val = data[2 + 2 * i], data[3 + 2 * i]\n"
        "    for cap in range(w, wt - 1, -1):\n"
        "        best[cap] = max(best[cap], best[cap - wt] + val)\n"
        "print(best[w])\n",
        lambda r: (lambda n: f"{n} {r.randint(0, 20)}\n" + "".join(
            f"{r.randint(1, 10)} {r.randint(0, 30)}\n" for _ in range(n)))(r.randint(1, 6)),
        big=lambda r: "100 1000\n" + "".join(f"{r.randint(1, 100)} {r.randint(0, 1000)}\n"
                                             for _ in range(100)))


problem("stdio_abs_value", 1, "Read an integer n. Print its absolute value.",
        "print(abs(int(input())))\n",
        lambda r: f"{r.randint(-10**12, 10**12)}\n")
problem("stdio_digits_reverse", 1,
        "Read a positive integer. Print the number whose digits are its digits reversed "
        "(without leading zeros).",
        "print(int(input().strip()[::-1]))\n",
        lambda r: f"{r.randint(1, 10**6) * r.choice([1, 10, 100])}\n")
problem("stdio_caesar", 2,
        "The first line holds k (0 <= k < 26); the second a line of lowercase letters and spaces. "
        "Print the line with every letter shifted k places forward in the alphabet (z wraps to "
        "a); spaces stay.",
        "k = int(input())\nprint(''.join(c if c == ' ' else chr((ord(c) - 97 + k) % 26 + 97)\n"
        "              for c in input()))\n",
        lambda r: f"{r.randint(0, 25)}\n{words(r, r.randint(1, 6), 'abcxyz')}\n")
problem("stdio_pair_count", 2,
        "The first line holds n and k; the second n integers. Print how many pairs i < j have "
        "a_i + a_j = k. Needs better than O(n^2) for the largest input.",
        "import sys\nfrom collections import Counter\ndata = sys.stdin.read().split()\n"
        "n, k = int(data[0]), int(data[1])\nseen, pairs = Counter(), 0\n"
        "for x in map(int, data[2:2 + n]):\n    pairs += seen[k - x]\n    seen[x] += 1\n"
        "print(pairs)\n",
        lambda r: (lambda n: f"{n} {r.randint(-5, 5)}\n{ints(r, n, -5, 5)}\n")(r.randint(1, 10)),
        big=lambda r: f"{BIG} 100\n{ints(r, BIG, 0, 100)}\n")
problem("stdio_lcs", 3,
        "Read two lowercase words, one per line (up to 800 letters each). Print the length of "
        "their longest common subsequence.",
        "a, b = input().strip(), input().strip()\nprev = [0] * (len(b) + 1)\nfor ca in a:\n"
        "    cur = [0]\n    for j, cb in enumerate(b, 1):\n"
        "        cur.append(prev[j - 1] + 1 if ca == cb else max(prev[j], cur[j - 1]))\n"
        "    prev = cur\nprint(prev[-1])\n",
        lambda r: "".join(r.choice("abc") for _ in range(r.randint(1, 10))) + "\n" +
        "".join(r.choice("abc") for _ in range(r.randint(1, 10))) + "\n",
        big=lambda r: "".join(r.choice("abcd") for _ in range(800)) + "\n" +
        "".join(r.choice("abcd") for _ in range(800)) + "\n")
problem("stdio_max_depth", 3,
        "The first line holds n (up to 30000); the second n - 1 integers: the parent of nodes "
        "2..n (each parent has a smaller number). Print the depth of the tree rooted at node 1 "
        "(a single node has depth 0). The largest input is a path: deep recursion fails there.",
        "import sys\ndata = sys.stdin.read().split()\nn = int(data[0])\ndepth = [0] * (n + 1)\n"
        "for v, p in enumerate(map(int, data[1:n]), 2):\n    depth[v] = depth[p] + 1\n"
        "print(max(depth[1:]))\n",
        lambda r: (lambda n: f"{n}\n" + " ".join(str(r.randint(1, v - 1)) for v in range(2, n + 1))
                   + "\n")(r.randint(1, 10)),
        big=lambda r: f"{BIG}\n" + " ".join(str(v - 1) for v in range(2, BIG + 1)) + "\n")


def _range_queries(r, n, q, full=False):
    qs = []
    for _ in range(q):
        lo = r.randint(1, n)
        qs.append((1, n) if full and r.random() < 0.5 else (lo, r.randint(lo, n)))
    return f"{n} {q}\n{ints(r, n)}\n" + "".join(f"{a} {b}\n" for a, b in qs)


def _grid(r, h, w, wall=0.3):
    rows = ["".join("#" if r.random() < wall else "." for _ in range(w)) for _ in range(h)]
    rows[0] = "." + rows[0][1:]
    rows[-1] = rows[-1][:-1] + "."
    return f"{h} {w}\n" + "\n".join(rows) + "\n"


def _graph(r, n, m):
    return f"{n} {m}\n" + "".join(f"{r.randint(1, n)} {r.randint(1, n)}\n" for _ in range(m))


def run(reference: str, stdin: str) -> str:
    p = subprocess.run([sys.executable, "-c", reference], input=stdin, capture_output=True,
                       text=True, timeout=60, check=True)
    return p.stdout


def main() -> None:
    out = []
    for i, p in enumerate(P):
        rng = random.Random(1000 + i)
        inputs = [p["gen"](rng) for _ in range(8)]
        if p["big"]:
            inputs.append(p["big"](rng))
        tests = [{"input": x, "output": run(p["reference"], x)} for x in inputs]
        row = {"id": p["id"], "difficulty": p["level"], "statement": p["statement"],
               "reference": p["reference"], "visible_tests": tests[:3],
               "hidden_tests": tests[3:]}
        if p["compare"] != "tokens":
            row |= {"compare": p["compare"], "tolerance": p["tol"]}
        out.append(json.dumps(row))
    Path(__file__).with_name("code_stdio_problems.jsonl").write_text("\n".join(out) + "\n")
    print(f"{len(out)} problems")


if __name__ == "__main__":
    main()
