#!/usr/bin/env python3
"""Prints the crate's module import graph and fails (exit 1) if it has a cycle.

Usage: scripts/module-graph.py [--folders] [--dot]

A node is a source file's module (`src/fs/jail.rs` is `fs::jail`; inline modules such as
`command::args` count as their file). An edge A -> B means code in A names B: a `use` path or
an inline `crate::`/`super::`/`self::` path. Declaring a child module (`mod x;`) is not an
edge, and neither is code under `#[cfg(test)]` (a unit test may import what the module itself
must not). Re-exports (`pub use fs::jail;`) are followed to the module they name. Two levels
are checked: modules, and folders (every file under `src/session/` is `session`, top-level
files are themselves); neither may have a cycle.

Standard library only, so CI needs nothing beyond python3.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(rel):
    """src-relative file path -> module path tuple (lib.rs and main.rs are the roots)."""
    parts = rel[:-3].split(os.sep)
    if parts in (["lib"], ["main"]):
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip(text):
    """Blanks out comments and string/char literals (keeping line structure), so that braces
    and paths inside them are not seen."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif re.match(r'(b?r#*")', text[i:i + 8]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text[i:j].count("\n"))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text[i:j].count("\n"))
            i = j + 1
        elif c == "'" or (c == "b" and text.startswith("b'", i)):
            start = i + (2 if c == "b" else 1)
            m = re.match(r"(\\.[^']*|[^\\'])'", text[start:])
            if m:  # a char literal; otherwise a lifetime or label
                out.append("' '")
                i = start + m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def closing_brace(code, start):
    """Offset of the `}` that closes the `{` at `start` (comments and literals already blank)."""
    depth = 0
    for k in range(start, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code)


def drop_test_code(code):
    """Removes items under #[cfg(test)] (a module with its braces, or one item)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]", code)
        if not m:
            return code
        j = m.end()
        brace = code.find("{", j)
        semi = code.find(";", j)
        if semi != -1 and (brace == -1 or semi < brace):
            code = code[: m.start()] + code[semi + 1:]
            continue
        k = closing_brace(code, brace)
        code = code[: m.start()] + "\n" * code[m.start():k].count("\n") + code[k + 1:]


def inline_modules(code):
    """(start, end) offsets of each inline `mod name { ... }` block."""
    spans = []
    for m in re.finditer(r"\bmod\s+\w+\s*\{", code):
        spans.append((m.start(), closing_brace(code, m.end() - 1)))
    return spans


def expand_use(tree):
    """`a::{b, c::{d, self}}` -> ['a::b', 'a::c::d', 'a::c']."""
    tree = re.sub(r"\s+", "", tree)
    depth, top = 0, None
    for idx, ch in enumerate(tree):
        if ch == "{":
            if depth == 0 and top is None:
                top = idx
            depth += 1
        elif ch == "}":
            depth -= 1
    if top is None:
        return [re.sub(r"\bas\w+$", "", tree.split(" as ")[0])] if tree else []
    prefix, inner = tree[:top], tree[top + 1: tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    paths = []
    for p in filter(None, parts):
        for sub in expand_use(p):
            sub = re.sub(r"as\w+$", "", sub) if re.search(r"\w+as\w+$", sub) and " as " in p else sub
            paths.append(prefix[:-2] if sub == "self" else prefix + sub)
    return paths


def main():
    folders = "--folders" in sys.argv
    files = {}
    for dirpath, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".rs"):
                rel = os.path.relpath(os.path.join(dirpath, name), ROOT)
                files[rel] = module_of(rel)
    modules = {m for rel, m in files.items() if rel != "main.rs"}

    # Inline module paths are resolved to their file; re-exports of modules become aliases.
    aliases = {}
    uses = {}
    for rel, mod in files.items():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            code = drop_test_code(strip(f.read()))
        uses[rel] = code
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", code):
            for p in expand_use(m.group(1)):
                segs = [s for s in p.split("::") if s]
                if segs and segs[0] == "crate":
                    segs = segs[1:]
                target = tuple(segs) if segs and segs[0] not in ("super", "self") else None
                if target in modules:
                    aliases[mod + (segs[-1],)] = target

    def resolve(mod, path, bin_crate, inline_depth):
        segs = [s for s in path.split("::") if s]
        if not segs:
            return None
        if segs[0] in ("crate", "tinyftpd") and (segs[0] == "crate") != bin_crate:
            base, segs = (), segs[1:]
        elif segs[0] == "self":
            base, segs = mod, segs[1:]
        elif segs[0] == "super":
            base = mod
            while segs and segs[0] == "super":
                # Inside an inline module, `super` first leaves it (still this file).
                if inline_depth:
                    inline_depth -= 1
                else:
                    base = base[:-1]
                segs = segs[1:]
        elif segs[0] in ("std", "core", "alloc", "libc", "log", "env_logger", "getopts"):
            return None
        else:
            # A path relative to the current module: a child module or an imported name.
            base = mod
            if base + (segs[0],) not in modules and base + (segs[0],) not in aliases:
                return None
        found, cur = None, base
        for s in segs:
            nxt = cur + (s,)
            nxt = aliases.get(nxt, nxt)
            if nxt in modules:
                cur = found = nxt
            else:
                break
        return found if found is not None else (base if base in modules and base != mod else None)

    edges = defaultdict(set)
    for rel, mod in files.items():
        bin_crate = rel == "main.rs"
        node = ("main",) if bin_crate else mod
        code = uses[rel]
        spans = inline_modules(code)

        def depth(pos):
            return sum(1 for a, b in spans if a < pos < b)

        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            paths += [(p, depth(m.start())) for p in expand_use(m.group(1))]
        # Inline paths: from the crate root, or through a child module (`handlers::dispatch`).
        prefix = r"tinyftpd" if bin_crate else r"crate|super|self|[a-z_]\w*"
        for m in re.finditer(r"(?<![\w:])((?:%s)(?:::\w+)+)" % prefix, code):
            paths.append((m.group(1), depth(m.start())))
        for p, d in paths:
            target = resolve(mod, p, bin_crate, d)
            if target is None or target == () and not bin_crate:
                continue
            if target != node:
                edges[node].add(target)

    def name(m):
        return "::".join(m) if m else "crate"

    def folder(m):
        return m[:1]

    graph = defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            if folders:
                if folder(a) != folder(b):
                    graph[folder(a)].add(folder(b))
            else:
                graph[a].add(b)
    nodes = sorted(set(graph) | {b for bs in graph.values() for b in bs}
                   | ({folder(m) for m in modules} if folders else modules))

    if "--dot" in sys.argv:
        print("digraph modules {")
        for a in nodes:
            for b in sorted(graph[a]):
                print(f'  "{name(a)}" -> "{name(b)}";')
        print("}")
    else:
        width = max(len(name(n)) for n in nodes)
        for a in nodes:
            print(f"{name(a):<{width}} -> {', '.join(name(b) for b in sorted(graph[a])) or '-'}")

    # Tarjan's strongly connected components: any with more than one node is a cycle.
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    level = "folder" if folders else "module"
    if cycles:
        for comp in cycles:
            print(f"CYCLE ({level}s that import each other): {', '.join(name(c) for c in comp)}",
                  file=sys.stderr)
        return 1
    print(f"no {level} cycles ({len(nodes)} {level}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
