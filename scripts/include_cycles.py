#!/usr/bin/env python3
"""Reports include cycles among bulwark's headers: every pair A -> B -> A of direct includes,
and any longer cycle (strongly connected component with more than one header).
Usage: scripts/include_cycles.py [include-root]   (exit status 1 when a cycle exists)"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'include')
inc = re.compile(r'^\s*#\s*include\s*<(bulwark/[^>]+)>', re.M)
graph = {}
for d, _, files in os.walk(root):
    for f in files:
        if f.endswith('.hpp'):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            graph[rel] = set(inc.findall(open(p).read()))
pairs = sorted({tuple(sorted((a, b))) for a, bs in graph.items() for b in bs
                if a != b and a in graph.get(b, ())})
for a, b in pairs:
    print(f'pair: {a} <-> {b}')
# Tarjan's SCC for longer cycles
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in graph.get(v, ()):
        if w not in graph: continue
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        if len(c) > 1: sccs.append(sorted(c))
for v in list(graph):
    if v not in index: visit(v)
for c in sccs:
    print('cycle: ' + ' -> '.join(c))
print(f'{len(graph)} headers, {len(pairs)} mutual pairs, {len(sccs)} cycles')
sys.exit(1 if pairs or sccs else 0)
