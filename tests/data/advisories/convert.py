"""An independent model of the OCaml advisories converter (hannesm/advisories, commit
9f538b283e2eb6ba0b70f9c8766e3f39b8978ce6, bin/advisories.ml), written from the rules in
MAPPING.md to check the desk's golden files without building OCaml: it parses the
markdown advisory (opam-syntax header, `# summary`, details) and prints the OSV record the
converter would print with `--no-opam`, minus `database_specific`.

Usage: python3 convert.py FILE.md            -> the OSV record on stdout
       python3 convert.py --check FILE.md...  -> compares each with FILE.json (the desk's),
                                                 ignoring schema_version and database_specific
Exit 1 (with the differences on stderr) when the file is rejected or differs.
"""
import datetime
import json
import os
import re
import sys


class Reject(Exception):
    pass


# ---------------------------------------------------------------- opam values
TOKEN = re.compile(r'''\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<relop>>=|<=|!=|=|<|>)
  | (?P<punct>[\[\]{}()&|:])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_+\-]*)
)''', re.X | re.S)

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "\\": "\\", '"': '"', "'": "'"}


def unescape(lit):
    # As the opam lexer reads a string: a decimal escape is one byte, and the bytes
    # are the string (UTF-8, as the converter then reads them).
    body, out, i = lit[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            n = body[i + 1]
            if n.isdigit():
                out.append(int(body[i + 1:i + 4]))
                i += 4
                continue
            out += ESCAPES[n].encode()
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode("utf-8")


def tokens(text):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if not m:
            raise Reject(f"cannot lex header at {text[pos:pos+20]!r}")
        kind = m.lastgroup
        val = m.group(kind)
        out.append((kind, unescape(val) if kind == "string" else val))
        pos = m.end()
    return out


class Parser:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, kind=None, val=None):
        k, v = self.peek()
        if k is None or (kind and k != kind) or (val and v != val):
            raise Reject(f"expected {kind} {val}, found {k} {v}")
        self.i += 1
        return v

    def fields(self):
        out = {}
        while self.peek()[0] is not None:
            name = self.take("ident")
            self.take("punct", ":")
            if name in out:
                raise Reject(f"An entry named {name!r} already exists")
            out[name] = self.value()
        return out

    def value(self):
        k, v = self.peek()
        if k == "string":
            self.i += 1
            node = ("string", v)
        elif k == "ident":
            self.i += 1
            node = ("ident", v)
        elif (k, v) == ("punct", "["):
            self.i += 1
            items = []
            while self.peek() != ("punct", "]"):
                items.append(self.value())
            self.i += 1
            node = ("list", items)
        else:
            raise Reject(f"unexpected {k} {v}")
        if self.peek() == ("punct", "{"):
            self.i += 1
            f = self.formula()
            self.take("punct", "}")
            node = ("option", node, f)
        return node

    # `|` and `&` are left-associative, `&` binds tighter (opam-file-format).
    def formula(self):
        return self.chain("|", "or", self.conj)

    def conj(self):
        return self.chain("&", "and", self.atom)

    def chain(self, op, tag, operand):
        left = operand()
        while self.peek() == ("punct", op):
            self.i += 1
            left = (tag, left, operand())
        return left

    def atom(self):
        k, v = self.peek()
        if k == "relop":
            self.i += 1
            return ("atom", v, self.take("string"))
        if (k, v) == ("punct", "("):
            self.i += 1
            f = self.formula()
            self.take("punct", ")")
            return f
        raise Reject(f"Expected a relative operation, a logical operation, or a group, found {k} {v}")


# ---------------------------------------------------------------- the converter
def parse_file(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    state, header = "initial", []
    for idx, line in enumerate(lines):
        if line == "":
            continue
        if state == "initial":
            if line != "```":
                raise Reject("expected header (```)")
            state = "header"
        elif state == "header":
            if line == "```":
                state = "summary"
            else:
                header.append(line)
        else:
            if not line.startswith("# "):
                raise Reject("expected summary (# <summary>)")
            summary = line[2:]
            if len(summary.encode()) > 120:
                raise Reject("summary exceeds length of 120 characters")
            details = "\n".join(lines[idx + 1:]).strip(" \t\n\r\x0c")
            return "\n".join(header), summary, details
    raise Reject("no summary")


def atoms(node, kind, what):
    """One atom of `kind` or a list of them, as a list; `what` names them in the error."""
    if node is None:
        return []
    if node[0] == kind:
        return [node[1]]
    if node[0] == "list" and all(n[0] == kind for n in node[1]):
        return [n[1] for n in node[1]]
    raise Reject(f"Expected a list of {what}")


def ident_list(node):
    return atoms(node, "ident", "identifiers")


def string_list(node):
    return atoms(node, "string", "strings")


def pairs(node, what):
    """[ident "string" (contacts)?] or a list of them (parse_references/parse_credits):
    (type, text, contacts)."""
    if node is None:
        return []
    items = node[1]
    if items and items[0][0] == "ident":
        items = [node]
    out = []
    for it in items:
        if it[0] != "list" or len(it[1]) not in (2, 3) or it[1][0][0] != "ident" or it[1][1][0] != "string":
            raise Reject(f"Expected a {what}")
        contacts = string_list(it[1][2]) if len(it[1]) == 3 else []
        out.append((it[1][0][1], it[1][1][1], contacts))
    return out


REF_TYPES = {"advisory", "article", "detection", "discussion", "report", "fix",
             "introduced", "package", "evidence", "web"}
CREDIT_TYPES = {"finder", "reporter", "analyst", "coordinator", "remediation_developer",
                "remediation_reviewer", "remediation_verifier", "tool", "sponsor", "other"}
RELOP_EVENT = {">=": "introduced", "<": "fixed", "<=": "last_affected"}


def add_introduce(events):
    # List.find_opt introduced: present -> List.rev events; absent -> introduced 0 :: events
    if any("introduced" in e for e in events):
        return list(reversed(events))
    return [{"introduced": "0"}] + events


def aff_to_events(ranges, events, f):
    if f[0] == "atom":
        if f[1] not in RELOP_EVENT:
            raise Reject(f"couldn't convert {f[1]} {f[2]!r}")
        return ranges, [{RELOP_EVENT[f[1]]: f[2]}] + events
    if f[0] == "and":
        r, e = aff_to_events(ranges, events, f[1])
        return aff_to_events(r, e, f[2])
    assert events == [], "assert (events = []) in aff_to_events"
    r, ea = aff_to_events(ranges, [], f[1])
    r, eb = aff_to_events(r, [], f[2])
    return ([{"type": "ECOSYSTEM", "events": add_introduce(ea)},
             {"type": "ECOSYSTEM", "events": add_introduce(eb)}] + r, [])


def pp_formula(f):
    if f[0] == "atom":
        return f'{f[1]} {json.dumps(f[2])}'
    sep = " & " if f[0] == "and" else " | "
    return pp_formula(f[1]) + sep + pp_formula(f[2])


def convert(path):
    header, summary, details = parse_file(path)
    fields = Parser(tokens(header)).fields()
    known = {"id", "modified", "published", "withdrawn", "aliases", "upstream", "related",
             "severity", "severity_score", "affected_bindings", "affected", "events",
             "references", "credits", "cwe"}
    unknown = set(fields) - known
    if unknown:
        raise Reject(f"unknown and unhandled key or keys: {sorted(unknown)}")
    ident = fields.get("id")
    if not ident or ident[0] != "ident":
        raise Reject("Expected an identifier for id")
    base = os.path.basename(path)
    if ident[1] not in (base, os.path.splitext(base)[0]):
        raise Reject("id and filename do not match")
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

    def date(name):
        node = fields.get(name)
        if node is None:
            return None
        if node[0] != "string" or not stamp.match(node[1]):
            raise Reject(f"couldn't parse {name}")
        # Ptime.to_rfc3339 ~tz_offset_s:0: UTC, whole seconds, `Z`.
        t = datetime.datetime.fromisoformat(node[1].replace("Z", "+00:00"))
        return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    modified = date("modified")
    if modified is None:
        raise Reject("missing modified")
    published, withdrawn = date("published"), date("withdrawn")
    if published and published > modified:
        raise Reject("published is after modified")
    aff = fields.get("affected")
    if aff is None:
        raise Reject("expected something being affected")
    if aff[0] != "option" or aff[1][0] != "string":
        raise Reject("Expected an option (package { constraints })")
    pkg, formula = aff[1][1], aff[2]
    opam_ranges, ev = aff_to_events([], [], formula)
    if ev:
        opam_ranges = [{"type": "ECOSYSTEM", "events": add_introduce(ev)}] + opam_ranges
    git_ranges = []
    events_node = fields.get("events")
    if events_node is not None:
        entries = events_node[1]
        if entries and entries[0][0] == "ident":
            entries = [events_node]
        for entry in entries:
            rtype, repo, evs = entry[1]
            inner = evs[1]
            if inner and inner[0][0] == "ident":
                inner = [evs]
            events = [{e[1][0][1]: e[1][1][1]} for e in inner]
            git_ranges.append({"type": rtype[1].upper(), "repo": repo[1],
                               "events": add_introduce(events)})
    eco = {"opam_constraint": f"{pkg} {{{pp_formula(formula)}}}"}
    bindings = string_list(fields.get("affected_bindings"))
    if bindings:
        eco["affected_bindings"] = bindings
    affected = {"package": {"ecosystem": "opam", "name": pkg, "purl": f"pkg:opam/{pkg}"},
                "ranges": opam_ranges + git_ranges, "versions": [],
                "ecosystem_specific": eco}
    osv = {"schema_version": "1.7.4", "id": ident[1], "modified": modified}
    if published:
        osv["published"] = published
    if withdrawn:
        osv["withdrawn"] = withdrawn
    for key in ("aliases", "upstream", "related"):
        vals = ident_list(fields.get(key))
        if vals:
            osv[key] = vals
    osv["summary"] = summary
    osv["details"] = details
    sev = fields.get("severity")
    if sev is not None:
        s = sev[1]
        kind = "CVSS_V4" if s.startswith("CVSS:4.") else "CVSS_V3" if s.startswith("CVSS:3.") else "CVSS_V2"
        osv["severity"] = [{"type": kind, "score": s}]
    osv["affected"] = [affected]
    refs = pairs(fields.get("references"), "reference type and a string")
    for t, _, _ in refs:
        if t not in REF_TYPES:
            raise Reject(f"unknown reference type {t!r}")
    osv["references"] = [{"type": t.upper(), "url": u} for t, u, _ in refs]
    creds = pairs(fields.get("credits"), "credit (typ, name, contact)")
    for t, _, _ in creds:
        if t not in CREDIT_TYPES:
            raise Reject(f"unkown credit type: {t!r}")
    osv["credits"] = [
        dict([("name", n)] + ([("contact", c)] if c else []) + [("type", t.upper())])
        for t, n, c in creds
    ]
    ident_list(fields.get("cwe"))
    return osv


def comparable(record, drop):
    return {k: v for k, v in record.items() if k not in drop}


def main(argv):
    if argv and argv[0] == "--check":
        failed = False
        for md in argv[1:]:
            try:
                got = convert(md)
            except (Reject, AssertionError, KeyError, IndexError, ValueError) as e:
                print(f"{md}: the converter would reject it: {e}", file=sys.stderr)
                failed = True
                continue
            want = json.load(open(md[:-3] + ".json", encoding="utf-8"))
            drop = {"schema_version", "database_specific"}
            if comparable(got, drop) != comparable(want, drop):
                failed = True
                for k in sorted(set(got) | set(want) - drop):
                    if k not in drop and got.get(k) != want.get(k):
                        print(f"{md}: {k}: converter {got.get(k)!r} != desk {want.get(k)!r}",
                              file=sys.stderr)
        return 1 if failed else 0
    print(json.dumps(convert(argv[0]), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
