"""The package closure of a Debian image, as mmdebstrap's extract variant takes it (stdlib only).

A Packages index (one suite, component and architecture) is read into stanzas; the closure of the
requested packages follows Pre-Depends and Depends (never Recommends or Suggests: the extract
variant leaves APT::Install-Recommends at false):

- each dependency group takes its first satisfiable alternative, in the order the package lists
  them; an alternative is satisfied by the package of that name whose version matches, or else
  by a package that Provides it (with a matching version for a versioned dependency);
- among several providers of a virtual package, the one whose name sorts first is taken (a real
  package of that name is always preferred), so the choice never depends on traversal order;
- `:any` and `:native` qualifiers are stripped; a name with several versions in the index
  counts as its highest version, the candidate apt would take.

Conflicts, Breaks and Essential are ignored: nothing is installed, only unpacked.
"""

import re

# dpkg's relation operators; `<` and `>` are the deprecated spellings of `<=` and `>=`.
_RELATIONS = {
    "<<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    "<": lambda c: c <= 0,
    "=": lambda c: c == 0,
    ">=": lambda c: c >= 0,
    ">": lambda c: c >= 0,
    ">>": lambda c: c > 0,
}
_ALTERNATIVE = re.compile(
    r"^([a-z0-9][a-z0-9+.\-]*)(?::([a-z0-9\-]+))?"  # name, architecture qualifier
    r"\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s]+)\s*\))?"  # version relation
    r"\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$"  # architecture lists and build profiles
)
_KEPT_FIELDS = ("Package", "Version", "Architecture", "Depends", "Pre-Depends", "Provides", "Filename",
                "Size", "SHA256")
_DIGITS = "0123456789"


class ResolveError(Exception):
    """A closure that cannot be made; the message is one line naming the package and the fix."""


def _order(char):
    """dpkg's sort weight of a non-digit version character: `~` first, then letters, then the rest."""
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_fragment(a, b):
    """dpkg's verrevcmp: compares an upstream version or a revision."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            left = _order(a[i]) if i < len(a) and a[i] not in _DIGITS else 0
            right = _order(b[j]) if j < len(b) and b[j] not in _DIGITS else 0
            if left != right:
                return left - right
            i, j = i + 1, j + 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        first_difference = 0
        while i < len(a) and a[i] in _DIGITS and j < len(b) and b[j] in _DIGITS:
            first_difference = first_difference or ord(a[i]) - ord(b[j])
            i, j = i + 1, j + 1
        if i < len(a) and a[i] in _DIGITS:
            return 1
        if j < len(b) and b[j] in _DIGITS:
            return -1
        if first_difference:
            return first_difference
    return 0


def _split_version(version):
    epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or "0"), upstream, revision


def compare_versions(a, b):
    """<0, 0 or >0 as Debian version `a` sorts before, equal to or after `b` (dpkg's order)."""
    (epoch_a, upstream_a, revision_a), (epoch_b, upstream_b, revision_b) = _split_version(a), _split_version(b)
    if epoch_a != epoch_b:
        return epoch_a - epoch_b
    return _compare_fragment(upstream_a, upstream_b) or _compare_fragment(revision_a, revision_b)


def parse_relations(text):
    """[[(name, qualifier or None, operator or None, version or None), ...alternatives], ...groups]."""
    groups = []
    for group in filter(None, (g.strip() for g in (text or "").split(","))):
        alternatives = []
        for alternative in group.split("|"):
            match = _ALTERNATIVE.match(alternative.strip())
            if not match:
                raise ResolveError(f"cannot parse the relation {alternative.strip()!r}")
            alternatives.append(match.groups())
        groups.append(alternatives)
    return groups


def parse_packages(text):
    """{name: stanza} of a Packages index, each name at its highest version; a stanza keeps the
    fields the closure and the lock need."""
    packages = {}
    for paragraph in text.split("\n\n"):
        stanza, field = {}, None
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t"):
                if field in stanza:
                    stanza[field] += " " + line.strip()
                continue
            field, _, value = line.partition(":")
            if field in _KEPT_FIELDS:
                stanza[field] = value.strip()
        name = stanza.get("Package")
        if name and (name not in packages or compare_versions(stanza["Version"], packages[name]["Version"]) > 0):
            packages[name] = stanza
    return packages


class Index:
    """One Packages index: real packages by name and what provides each virtual name."""

    def __init__(self, packages, where):
        self.packages = packages
        self.where = where  # e.g. "bookworm main for amd64", for messages
        self.providers = {}  # virtual name -> [(provider name, provided version or None)]
        for name in sorted(packages):
            for group in parse_relations(packages[name].get("Provides")):
                virtual, _, _, version = group[0]
                self.providers.setdefault(virtual, []).append((name, version))

    def choose(self, alternative):
        """The package name satisfying one alternative, or None."""
        name, qualifier, operator, version = alternative
        if qualifier not in (None, "any", "native"):
            return None  # another architecture's package: not in this index
        real = self.packages.get(name)
        if real and (operator is None or _RELATIONS[operator](compare_versions(real["Version"], version))):
            return name
        for provider, provided in self.providers.get(name, ()):
            if operator is None or (provided and _RELATIONS[operator](compare_versions(provided, version))):
                return provider
        return None

    def closure(self, requested):
        """Sorted names of the requested packages and everything they need; ResolveError names
        the first package that cannot be satisfied and what needs it."""
        chosen, queue = {}, []
        for name in sorted(set(requested)):
            found = self.choose((name, None, None, None))
            if found is None:
                raise ResolveError(f"{name} is not a package of {self.where}: check its name in packages")
            if found not in chosen:
                chosen[found] = None
                queue.append(found)
        while queue:
            name = queue.pop(0)
            stanza = self.packages[name]
            for field in ("Pre-Depends", "Depends"):
                for group in parse_relations(stanza.get(field)):
                    found = next(filter(None, map(self.choose, group)), None)
                    if found is None:
                        raise ResolveError(
                            f"nothing in {self.where} satisfies {_describe(group)}, which {name} "
                            f"{stanza['Version']} {field.lower()} on: add a package providing it to packages")
                    if found not in chosen:
                        chosen[found] = name
                        queue.append(found)
        return sorted(chosen)


def _describe(group):
    return " | ".join(
        name + (":" + qualifier if qualifier else "") + (f" ({operator} {version})" if operator else "")
        for name, qualifier, operator, version in group)
